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


NOTHING_IMPORTED = 1  # the exit status of an import that found no readings it could keep


def run_import(format: str, path: str, out: str | Path, err: IO[str] = sys.stderr) -> int:
    """Convert ``path`` (format ``format``) into the recording ``out``. Returns 0; 1
    (``NOTHING_IMPORTED``) when it holds no reading the recording format can keep (no file is
    left); or 2 with the reason on ``err``. What was changed or left out is reported on ``err``
    in every case."""
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
        report.close_progress()
        print(f"vitalwatch {what}: {e}", file=err)
        return 2
    except (OSError, ValueError) as e:
        report.close_progress()
        print(f"vitalwatch {what}: cannot read {path}: {e}", file=err)
        return 2
    if n == 0:
        # A recording with a header and no readings would replay as nothing and look imported.
        Path(out).unlink(missing_ok=True)
    report.summary(n, str(out))
    return 0 if n else NOTHING_IMPORTED
