"""The alarm-delivery wire (alerts/delivery/wire.py): its exported schema and its state table."""

from __future__ import annotations

import json
from pathlib import Path

from alerts.delivery.wire import RANK, State, advances, json_schema

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "delivery.schema.json"


def test_exported_schema_matches_the_models() -> None:
    """docs/delivery.schema.json is what the delivery models export (run `make schema`)."""
    assert json.loads(SCHEMA.read_text()) == json_schema(), (
        "docs/delivery.schema.json has drifted from alerts/delivery/wire.py: run `make schema`")


def test_a_delivery_only_moves_forward() -> None:
    """Every state moves only to a later one; failed and acknowledged are final."""
    for current in State:
        for new in State:
            final = current in (State.failed, State.acknowledged)
            expected = not final and (new is State.failed or RANK[new] > RANK[current])
            assert advances(current, new) is expected, (current, new)
    assert advances(State.sent, State.delivered) and not advances(State.seen, State.delivered)
