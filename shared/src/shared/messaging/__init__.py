"""Reliable messaging over aio-pika: topology, outbox relay, idempotent consumer, DLQ tools."""
