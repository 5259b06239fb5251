"""Test support: throw-away databases and RabbitMQ vhosts on real servers (see fixtures.py)."""
