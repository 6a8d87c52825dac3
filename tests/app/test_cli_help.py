"""Every argument of the monitor, replay, emulate and import commands says what it is for in
``--help``, run as a person runs it."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT, seconds

COMMANDS = [("monitor", "sim"), ("monitor", "serial"), ("monitor", "hl7"), ("replay",),
            ("emulate",), ("import", "wfdb"), ("import", "csv"), ("import", "vital")]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_argument_has_help(command: tuple[str, ...]) -> None:
    """In the command's --help, no argument is listed without a description."""
    done = subprocess.run([sys.executable, "-m", "app.cli", *command, "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=seconds(30), check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split("\n")
    start = next(i for i, line in enumerate(lines) if line.endswith(("arguments:", "options:")))
    listed = [(i, line) for i, line in enumerate(lines[start:], start) if re.match(r"^  \S", line)]
    for i, line in listed:
        # An argument is "  NAME  help…" on one line, or "  NAME" with the help indented below.
        described = re.match(r"^  \S.*?\s{2,}\S", line) or (
            i + 1 < len(lines) and re.match(r"^\s{10,}\S", lines[i + 1]))
        assert described, f"{' '.join(command)}: no help for {line.strip()!r}"
