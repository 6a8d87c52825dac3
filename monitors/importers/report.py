"""What an import did to the data, told on stderr: nothing is changed or left out silently.

Every importer counts here: values it turned into "no value" (a MIMIC zero, an impossible
value), signals it could not place (by name, with the reason), segments missing from the folder;
and it reports progress on long imports.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, Any


class Unreadable(Exception):
    """A file that cannot be imported at all; the message says why, for the person importing."""


@dataclass
class Report:
    err: IO[str] = field(default_factory=lambda: sys.stderr)
    what: str = "import"
    noun: str = "signal"  # what the unmapped things are: signals, columns, tracks
    no_value: Counter[str] = field(default_factory=Counter)  # zeros or blanks read as "no value"
    implausible: Counter[str] = field(default_factory=Counter)  # out of range, made "no value"
    examples: dict[str, float] = field(default_factory=dict)  # one implausible value per parameter
    unmapped: dict[str, str] = field(default_factory=dict)  # signal name -> why it is not imported
    units: dict[str, str] = field(default_factory=dict)  # signal -> note on a unit taken as canonical
    missing: list[tuple[str, float, float]] = field(default_factory=list)  # segment, start s, length s
    missing_why: dict[str, str] = field(default_factory=dict)  # segment -> what is missing
    notes: list[str] = field(default_factory=list)
    _progress_at: float = 0.0
    _bar: Any = None  # the tqdm bar, on a terminal

    def unmapped_signal(self, name: str, why: str) -> None:
        self.unmapped.setdefault(name, why)  # told in the summary, by name

    def bad_value(self, param: str, value: float) -> None:
        self.implausible[param] += 1
        self.examples.setdefault(param, value)

    def missing_segment(self, name: str, start_s: float, length_s: float,
                        why: str = "header missing") -> None:
        self.missing.append((name, start_s, length_s))
        self.missing_why[name] = why

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"vitalwatch {self.what}: {text}", file=self.err)

    def progress(self, done: float, total: float, detail: str = "") -> None:
        """Progress: a bar when ``err`` is a terminal, else a line at most once a second (so
        short imports print none, and logs get no control characters)."""
        if total > 0 and self._bar is None and _is_terminal(self.err):
            from tqdm import tqdm

            self._bar = tqdm(total=100, file=self.err, desc=f"vitalwatch {self.what}",
                             bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining} {postfix}",
                             leave=False, mininterval=0.5)
        if self._bar is not None:
            self._bar.n = min(100.0, 100 * done / total) if total > 0 else 0.0
            self._bar.set_postfix_str(detail, refresh=False)
            self._bar.refresh()
            return
        now = time.monotonic()
        if not self._progress_at:
            self._progress_at = now
            return
        if now - self._progress_at >= 1.0 and total > 0:
            self._progress_at = now
            print(f"vitalwatch {self.what}: {100 * done / total:3.0f} %{' — ' + detail if detail else ''}",
                  file=self.err, flush=True)

    def close_progress(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def summary(self, records: int, out: str) -> None:
        self.close_progress()
        e = self.err
        if records:
            print(f"vitalwatch {self.what}: wrote {records} records to {out}", file=e)
        else:
            print(f"vitalwatch {self.what}: nothing imported: no readings the recording format "
                  f"can hold (see below); no file written", file=e)
        if self.unmapped:
            print(f"  {len(self.unmapped)} {self.noun}{'s' if len(self.unmapped) > 1 else ''} "
                  f"not imported (each below)", file=e)
        for param, n in sorted(self.no_value.items()):
            print(f"  {param}: {n} values of 0 or blank read as 'no value' (null)", file=e)
        for param, n in sorted(self.implausible.items()):
            print(f"  {param}: {n} impossible values made 'no value' (null), e.g. {self.examples[param]:g}",
                  file=e)
        if self.missing:
            total = sum(length for _, _, length in self.missing)
            print(f"  {len(self.missing)} segments missing from the folder, skipped "
                  f"({_hms(total)} of recording; the later segments keep their times):", file=e)
            for name, start, length in self.missing[:20]:
                why = self.missing_why.get(name, "header missing")
                print(f"    {name}: from {_hms(start)} for {_hms(length)} ({why})", file=e)
            if len(self.missing) > 20:
                print(f"    … and {len(self.missing) - 20} more", file=e)
        for name, why in sorted(self.unmapped.items()):
            print(f"  {self.noun} {name!r} not imported: {why}", file=e)

    def meta(self) -> dict:
        """What the header records about the import (known before the records are written)."""
        return {"not_imported": dict(self.unmapped),
                "missing_segments": [{"name": n, "start_s": s, "length_s": d,
                                      "why": self.missing_why.get(n, "header missing")}
                                     for n, s, d in self.missing]}


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _hms(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600:d}:{s // 60 % 60:02d}:{s % 60:02d}"
