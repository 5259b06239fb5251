# The shared fixtures: throw-away PostgreSQL databases and RabbitMQ vhosts per test run.
import os

pytest_plugins = ["mci_testing.fixtures", "mci_testing.scheduling"]

# The end-to-end stack is a dozen service processes, and beside it the other worker's tests
# start processes of their own: with a service's default pool they would pass PostgreSQL's 100
# connections. Inherited by every service process a test starts.
os.environ.setdefault("MCI_DATABASE_POOL_SIZE", "3")
