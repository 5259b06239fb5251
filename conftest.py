# The shared fixtures: throw-away PostgreSQL databases and RabbitMQ vhosts per test run.
import os

pytest_plugins = ["mci_testing.fixtures", "mci_testing.scheduling"]

# Two pytest workers each start whole stacks of service processes (tests/e2e, the console's,
# the CLI's): with a service's default pool they would pass PostgreSQL's 100 connections.
# Inherited by every service process a test starts.
os.environ.setdefault("MCI_DATABASE_POOL_SIZE", "3")
