"""The recording file: one session's stream, portable and versioned (docs/recording-format.md).

A recording is JSON Lines (optionally gzip-compressed, by the ``.gz`` suffix). The first line is a
header; every other line is either a monitor message exactly as it travels on the wire
(``numerics``, ``nibp``, ``waveform``, ``status``, ``heartbeat``; see ``protocol.py``), or one of
the recording-only records below. Lines are in time order.

- ``{"type": "truth", "label": "SBP >= 180", "kind": "event"|"artifact", "start": t, "end": t}``:
  ground truth from a simulator or an annotator: when a real physiological event (or an artifact)
  was present. Written when the interval is known, so it may follow the messages it covers.
- ``{"type": "mark", "t": t, "what": "dose", "text": "..."}``: a clinical event marker.
- ``{"type": "alarm", ...}``: an alarm transition as it happened live (exports only).
- ``{"type": "delivery", ...}``: a notice of an alarm change to one recipient (exports only).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

FORMAT = "vitalwatch-recording"
VERSION = 1


class RecordingError(ValueError):
    """A recording file that cannot be read; the message names the file and line."""


@dataclass
class Header:
    room: str = "Recording"
    monitor_id: str = "recording"
    mode: str = "replay"
    start: float = 0.0
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "version": VERSION, "room": self.room,
            "monitor_id": self.monitor_id, "mode": self.mode, "start": self.start,
            "source": self.source, "meta": self.meta,
        }


def _open(path: Path, mode: str) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, mode + "t", encoding="utf-8")  # type: ignore[return-value]
    return open(path, mode, encoding="utf-8")


def write(path: str | Path, header: Header, records: Iterable[dict[str, Any]]) -> int:
    """Write a recording; returns the number of records written (header not counted)."""
    n = 0
    with _open(Path(path), "w") as f:
        f.write(json.dumps(header.to_json(), separators=(",", ":")) + "\n")
        for rec in records:
            f.write(json.dumps(rec, separators=(",", ":"), allow_nan=False) + "\n")
            n += 1
    return n


def write_whole(path: str | Path, header: Header, records: Iterable[dict[str, Any]]) -> int:
    """``write`` to a hidden partial file beside ``path``, renamed into place once complete, so a
    writer that fails half-way (a bad source, a full disk) leaves no file that looks whole."""
    path = Path(path)
    partial = path.with_name(f".partial-{path.name}")  # keeps the .gz suffix
    try:
        n = write(partial, header, records)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(path)
    return n


def read(path: str | Path) -> tuple[Header, Iterator[dict[str, Any]]]:
    """Open a recording: its header now, its records lazily. Raises RecordingError."""
    header, numbered = read_numbered(path)
    return header, (rec for _, rec in numbered)


def read_numbered(path: str | Path) -> tuple[Header, Iterator[tuple[int, dict[str, Any]]]]:
    """As ``read``, each record with its line number in the file (for errors that name it).
    The records open the file again when first asked for, so a reader that wants only the
    header leaves no file open."""
    path = Path(path)
    with _open(path, "r") as f:
        first = f.readline()
    try:
        head = json.loads(first)
    except json.JSONDecodeError as e:
        raise RecordingError(f"{path}: line 1: not a recording header ({e.msg})") from None
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        raise RecordingError(f"{path}: line 1: not a {FORMAT} file")
    if head.get("version") != VERSION:
        raise RecordingError(f"{path}: line 1: version {head.get('version')!r} (this reads {VERSION})")
    header = Header(
        room=head.get("room", "Recording"), monitor_id=head.get("monitor_id", "recording"),
        mode=head.get("mode", "replay"), start=float(head.get("start", 0.0)),
        source=head.get("source", ""), meta=head.get("meta", {}),
    )

    def records() -> Iterator[tuple[int, dict[str, Any]]]:
        with _open(path, "r") as f:
            f.readline()
            for lineno, line in enumerate(f, start=2):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as e:
                    raise RecordingError(f"{path}: line {lineno}: {e.msg}") from None
                if not isinstance(rec, dict) or "type" not in rec:
                    raise RecordingError(f"{path}: line {lineno}: a record needs a 'type'")
                yield lineno, rec

    return header, records()
