"""Importers: recordings of other formats as vitalwatch recordings (docs/recording-format.md).

Each importer is a module with ``read(path, report) -> (Header, records)``: the header, and the
records lazily in time order, in the recording format; ``report`` hears about everything that
was not imported as it was. They share the signal-name map (``names.py``), the value rules
(``build.py``) and the report (``report.py``). The importer is chosen by name and imported only
when used, so a missing optional package breaks only its own format.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import IO

from monitors import recording
from monitors.importers.report import Report, Unreadable

FORMATS = {"wfdb": "monitors.importers.wfdb", "csv": "monitors.importers.csvfile",
           "vital": "monitors.importers.vital"}


def run_import(format: str, path: str, out: str | Path, err: IO[str] = sys.stderr) -> int:
    """Convert ``path`` (format ``format``) into the recording ``out``. Returns 0, or 2 with the
    reason on ``err``. What was changed or left out is reported on ``err`` either way."""
    what = f"import {format}"
    if format not in FORMATS:
        print(f"vitalwatch {what}: unknown format (known: {', '.join(FORMATS)})", file=err)
        return 2
    report = Report(err=err, what=what)
    try:
        module = importlib.import_module(FORMATS[format])
        header, records = module.read(path, report)
        n = recording.write_whole(out, header, records)
    except Unreadable as e:
        print(f"vitalwatch {what}: {e}", file=err)
        return 2
    except (OSError, ValueError) as e:
        print(f"vitalwatch {what}: cannot read {path}: {e}", file=err)
        return 2
    report.summary(n, str(out))
    return 0
