"""Fixtures of the integration tests: a server whose rules lose a feed sooner."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app.delivery_helpers import Receiver
from tests.app.helpers import FEED_LOST_S, server_with_rules
from tests.conftest import Server


@pytest.fixture
def feed_loss_server(tmp_path: Path) -> Iterator[Server]:
    """A freshly started server whose rules lose a feed (T4) after FEED_LOST_S, not 10 s;
    killed after the test."""
    yield from server_with_rules(tmp_path, T4=FEED_LOST_S)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP receiver of the delivery tests' notices; shut down after the test."""
    with Receiver() as r:
        yield r
