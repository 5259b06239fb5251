"""Generates docs/asyncapi.yaml from shared.events (`make asyncapi`).

A test compares the committed document with a fresh rendering, so it cannot go stale.
"""

from __future__ import annotations

from typing import Any

import yaml

from shared.events import ALL_EVENTS, DEAD_LETTER_NOTE, Envelope, Event


def _message(event: type[Event]) -> dict[str, Any]:
    envelope = Envelope.model_json_schema()
    envelope["properties"]["data"] = {"$ref": f"#/components/schemas/{event.__name__}"}
    envelope["properties"]["type"] = {"const": event.event_type}
    envelope["properties"]["version"] = {"const": event.version}
    envelope.pop("title", None)
    return {
        "name": event.event_type,
        "title": event.event_type,
        "summary": event.summary,
        "contentType": "application/json",
        "x-producer": event.producer,
        "x-consumers": list(event.consumers),
        "x-requires-consumer": event.requires_consumer,
        "bindings": {"amqp": {"messageType": event.event_type, "deliveryMode": 2}},
        "headers": {
            "type": "object",
            "properties": {
                "x-correlation-id": {"type": "string"},
                "x-causation-id": {"type": "string"},
                "x-event-version": {"type": "integer"},
            },
        },
        "payload": envelope,
    }


def _schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for event in ALL_EVENTS:
        schema = event.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[event.__name__] = schema
    return dict(sorted(schemas.items()))


def document() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for event in ALL_EVENTS:
        channel_id = event.routing_key.replace(".", "-")
        channels[channel_id] = {
            "address": event.routing_key,
            "description": f"Routing key `{event.routing_key}` on the `{event.exchange}` exchange.",
            "messages": {event.event_type: {"$ref": f"#/components/messages/{event.event_type}"}},
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": {"name": event.exchange, "type": "topic", "durable": True},
                }
            },
        }
        operations[f"publish{event.event_type}"] = {
            "action": "send",
            "summary": f"{event.producer} publishes {event.event_type}",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{event.event_type}"}],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Allegro multi-channel integration platform: events",
            "version": "1",
            "description": (
                "Every event travels in the same JSON envelope, persistent, with AMQP "
                "`message_id` = envelope `id` (consumers deduplicate on it), `type` = event "
                "type and `correlation_id`. Events are versioned: a breaking change is a new "
                "`version`, published beside the old one until every consumer moved. Items "
                "carry revisions: apply an item only if it is newer than what you hold. "
                "An event with `x-requires-consumer: false` is for subscribers outside the "
                "platform and is published without `mandatory`: bind a durable queue to its "
                "routing key before you need its events, since none is kept while no queue "
                "is bound. " + DEAD_LETTER_NOTE
            ),
        },
        "servers": {
            "local": {
                "host": "127.0.0.1:5672",
                "protocol": "amqp",
                "protocolVersion": "0-9-1",
                "description": "RabbitMQ; exchanges `mci.events` and `mci.upstream` (topic).",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": {event.event_type: _message(event) for event in ALL_EVENTS},
            "schemas": _schemas(),
        },
    }


def render() -> str:
    return yaml.safe_dump(document(), sort_keys=False, allow_unicode=True, width=100)


if __name__ == "__main__":
    print(render(), end="")
