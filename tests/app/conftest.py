"""Fixtures of the integration tests: a server whose rules lose a feed sooner."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app.delivery_helpers import Receiver
from tests.app.helpers import FEED_LOST_S, rules_with
from tests.conftest import Server, free_port


@pytest.fixture
def feed_loss_server(tmp_path: Path) -> Iterator[Server]:
    """A freshly started server whose rules lose a feed (T4) after FEED_LOST_S, not 10 s;
    killed after the test."""
    rules = rules_with(tmp_path / "rules.yaml", T4=FEED_LOST_S)
    srv = Server(free_port(), tmp_path / "data", args=("--rules", str(rules))).start()
    try:
        yield srv
    finally:
        srv.kill(signal.SIGTERM)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP receiver of the delivery tests' notices; shut down after the test."""
    with Receiver() as r:
        yield r
