"""deploy/rabbitmq/definitions.json: the exchanges, queues, dead-letter queues, bindings and
policies every service relies on, matched against what shared/ declares and what each service
consumes."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from mci_testing.deploy import (
    DELIVERY_LIMIT,
    DEPLOY,
    DLQ_ARGUMENTS,
    SERVICES,
    TOPOLOGY,
)


@pytest.fixture(scope="module")
def definitions() -> dict[str, Any]:
    data = json.loads((DEPLOY / "rabbitmq" / "definitions.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_definitions_exchanges(definitions: dict[str, Any]) -> None:
    exchanges = {e["name"]: e for e in definitions["exchanges"]}
    assert exchanges["mci.events"]["type"] == "topic"
    assert exchanges["mci.upstream"]["type"] == "topic"
    assert exchanges["mci.dlx"]["type"] == "direct"
    for exchange in exchanges.values():
        assert exchange["durable"] is True
        assert exchange["vhost"] == "/"


@pytest.mark.parametrize("queue", list(TOPOLOGY))
def test_definitions_queue_dlq_and_bindings(definitions: dict[str, Any], queue: str) -> None:
    queues = {q["name"]: q for q in definitions["queues"]}
    main = queues[queue]
    assert main["durable"] is True
    # Exactly what shared/ declares: any other argument would make the service's own
    # declaration fail with PRECONDITION_FAILED (inequivalent arg).
    assert main["arguments"] == {
        "x-queue-type": "quorum",
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": "mci.dlx",
        "x-dead-letter-routing-key": queue,
    }
    dlq = queues[f"{queue}.dlq"]
    assert dlq["durable"] is True
    assert dlq["arguments"] == DLQ_ARGUMENTS
    bindings = {
        (b["source"], b["routing_key"])
        for b in definitions["bindings"]
        if b["destination"] == queue and b["destination_type"] == "queue"
    }
    assert bindings == set(TOPOLOGY[queue])
    dlq_bindings = {
        (b["source"], b["routing_key"])
        for b in definitions["bindings"]
        if b["destination"] == f"{queue}.dlq"
    }
    assert dlq_bindings == {("mci.dlx", queue)}


def test_definitions_match_what_shared_declares(definitions: dict[str, Any]) -> None:
    """definitions.json and shared/messaging/topology.py must agree argument for argument."""
    topology = pytest.importorskip("shared.messaging.topology")
    queues = {q["name"]: q for q in definitions["queues"]}
    for name in TOPOLOGY:
        spec = topology.QueueSpec(name=name, bindings=tuple(TOPOLOGY[name]))
        assert queues[name]["arguments"] == spec.queue_arguments()
        assert queues[spec.dlq]["arguments"] == topology.DLQ_ARGUMENTS
    assert topology.DEAD_LETTER_EXCHANGE == "mci.dlx"


@pytest.mark.parametrize("service", list(SERVICES))
def test_definitions_cover_each_services_subscriptions(
    definitions: dict[str, Any], service: str
) -> None:
    """Every queue a service subscribes to is exported, with the same bindings and arguments."""
    consumer = pytest.importorskip(f"{service}.consumer")
    queues = {q["name"]: q for q in definitions["queues"]}
    for subscription in consumer.SUBSCRIPTIONS:
        spec = subscription.queue
        assert spec.name in queues, f"{service} consumes {spec.name}, missing from definitions"
        assert queues[spec.name]["arguments"] == spec.queue_arguments()
        exported = {
            (b["source"], b["routing_key"])
            for b in definitions["bindings"]
            if b["destination"] == spec.name
        }
        assert exported == set(spec.bindings), spec.name


def test_every_event_a_platform_service_must_consume_has_a_queue() -> None:
    """An event published `mandatory` with no queue bound is returned by the broker and waits in
    its producer's outbox forever (the outbox-age alert, a growing backlog). Events only outside
    subscribers take say so (`requires_consumer = False`) and go out without `mandatory`."""
    events = pytest.importorskip("shared.events")
    bound = {binding for bindings in TOPOLOGY.values() for binding in bindings}
    unbound = [
        cls.event_type
        for cls in events.ALL_EVENTS
        if cls.requires_consumer and (cls.exchange, cls.routing_key) not in bound
    ]
    assert unbound == []
    optional_but_bound = [
        cls.event_type
        for cls in events.ALL_EVENTS
        if not cls.requires_consumer and (cls.exchange, cls.routing_key) in bound
    ]
    assert optional_but_bound == [], "a platform queue takes it: publish it mandatory"


def test_definitions_declare_no_unknown_queues(definitions: dict[str, Any]) -> None:
    expected = set(TOPOLOGY) | {f"{q}.dlq" for q in TOPOLOGY}
    assert {q["name"] for q in definitions["queues"]} == expected


@pytest.mark.parametrize("queue", list(TOPOLOGY))
def test_definitions_dead_letter_policy(definitions: dict[str, Any], queue: str) -> None:
    matching = [
        p
        for p in definitions["policies"]
        if re.fullmatch(p["pattern"], queue) and p["apply-to"] in {"queues", "quorum_queues"}
    ]
    assert len(matching) == 1, "exactly one policy applies to a queue"
    policy = matching[0]["definition"]
    assert policy["dead-letter-exchange"] == "mci.dlx"
    assert policy["dead-letter-routing-key"] == queue
    assert policy["delivery-limit"] == DELIVERY_LIMIT
    assert policy["dead-letter-strategy"] == "at-least-once"
    assert policy["overflow"] == "reject-publish"
    # The policy must not also catch the DLQ (no dead-lettering out of a DLQ).
    for p in definitions["policies"]:
        assert not re.fullmatch(p["pattern"], f"{queue}.dlq")


def test_definitions_hold_no_users(definitions: dict[str, Any]) -> None:
    # Topology only: it can be imported into any cluster without touching its users.
    assert not definitions.get("users")
    assert not definitions.get("permissions")
    users = json.loads((DEPLOY / "rabbitmq" / "dev-users.json").read_text(encoding="utf-8"))
    assert [u["name"] for u in users["users"]] == ["mci"]
