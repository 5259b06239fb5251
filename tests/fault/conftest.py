from mci_testing.ledger.fixtures import broker, engine, ledger_db

__all__ = ["broker", "engine", "ledger_db"]
