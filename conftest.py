# The shared fixtures: throw-away PostgreSQL databases and RabbitMQ vhosts per test run.
pytest_plugins = ["mci_testing.fixtures", "mci_testing.scheduling"]
