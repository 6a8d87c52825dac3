"""The live feed's exported schema (docs/feed.schema.json) is what app/feed.py defines."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from app import feed

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "feed.schema.json"


def test_exported_schema_matches_the_models() -> None:
    """docs/feed.schema.json is what the feed models export (run `make schema` after a change)."""
    exported = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert exported == json.loads(json.dumps(feed.json_schema())), (
        "docs/feed.schema.json has drifted from app/feed.py: run `make schema`")


def test_every_time_field_names_its_clock() -> None:
    """Every time field of the feed ends in _device or _server and says which clock it is on."""
    def walk(node: object, name: str = "") -> list[str]:
        bad = []
        if isinstance(node, dict):
            clock = node.get("x-clock")
            if clock is not None and not name.endswith(f"_{clock}"):
                bad.append(f"{name} is on the {clock} clock")
            for key, value in node.items():
                if key == "properties" and isinstance(value, dict):
                    for prop, sub in value.items():
                        bad += walk(sub, prop)
                else:
                    bad += walk(value, name)
        elif isinstance(node, list):
            for item in node:
                bad += walk(item, name)
        return bad

    assert walk(feed.json_schema()) == []


@pytest.mark.parametrize("message, valid", [
    ({"type": "heartbeat", "t_server": 1.0}, True),
    ({"type": "heartbeat", "server_time": 1.0}, False),
    ({"type": "refused", "field": "kinds.0", "reason": "not a kind"}, True),
    ({"type": "numerics", "room": "A", "session_id": 1, "t_server": 1.0,
      "readings": {"HR": {"value": 80, "t_device": 1.0}}}, True),
    ({"type": "numerics", "room": "A", "session_id": 1, "t_server": 1.0,
      "values": {"HR": 80}}, False),
])
def test_exported_schema_tells_feed_messages_from_old_ones(message: dict, valid: bool) -> None:
    """The exported schema accepts the feed's shapes and refuses the ones it replaced."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))["server_message"]
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(message))
    assert (errors == []) == valid, errors
