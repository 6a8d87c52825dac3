"""The session's readings as CSV: every stored numeric value and cuff measurement, one row each,
in time order — nothing downsampled, so a spreadsheet or another program gets what was stored.

Columns: ``t`` (device time, seconds since the epoch, exactly as stored), ``source`` (numerics or
nibp), ``param``, ``value`` (empty: the device sent "no value"), ``status`` and ``reason`` (cuff
only). Numbers are written with Python's shortest round-trip form, so reading them back gives
the same floats.
"""

from __future__ import annotations

import csv
import io

from app.store import Store

FIELDS = ("t", "source", "param", "value", "status", "reason")
NIBP_PARTS = (("SBP", "sys"), ("DBP", "dia"), ("MAP", "map"))


def _n(v: float | None) -> str:
    return "" if v is None else repr(float(v))


def to_csv(store: Store, session_id: int) -> str:
    rows: list[tuple[float, int, list[str]]] = []
    for i, r in enumerate(store.numerics(session_id)):
        rows.append((r["t"], i, [_n(r["t"]), "numerics", r["param"], _n(r["value"]), "", ""]))
    base = len(rows)
    for i, r in enumerate(store.nibp(session_id)):
        for j, (param, key) in enumerate(NIBP_PARTS):
            rows.append((r["t"], base + 3 * i + j,
                         [_n(r["t"]), "nibp", param, _n(r[key]), r["status"], r["reason"] or ""]))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIELDS)
    writer.writerows(cells for _, _, cells in sorted(rows, key=lambda x: (x[0], x[1])))
    return out.getvalue()
