"""Every argument of every command says what it is for in ``--help``: the monitor, replay,
emulate and import commands run as a person runs them, and the whole command tree walked."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

import pytest

from app.cli import build_parser
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


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """Every (sub)command's parser, with the words that reach it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _commands(child, (*path, name))


def test_every_argument_of_every_command_has_help() -> None:
    """Walking the whole command tree (serve, demo, user, device, evaluate, export, monitor …),
    every argument and every subcommand carries a help text."""
    missing = []
    for path, parser in _commands(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if isinstance(action, argparse._SubParsersAction):
                missing += [" ".join((*path, c.dest)) for c in action._choices_actions if not c.help]
            elif not action.help:
                missing.append(" ".join((*path, action.dest)))
    assert not missing, missing
