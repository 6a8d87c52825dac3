"""Make the example session report in docs/: a simulated demo session (the typical responder on
esketamine), fed through the real pipeline into a scratch database, with a clinical record, then
signed, drawn as PDF (its chart exported through Debian's chromium, as the server does), and its
first page as an image.

    .venv/bin/python bench/report_example.py [--out docs]

Writes docs/report-example.pdf and docs/img/report-page1.png. The same seed gives the same
readings; the times are those of the day it is run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pypdfium2

from alerts.rules import load
from app.hub import Hub
from app.pipeline import Pipeline
from app.record import CheckIn, Confirmation, Dose, Observation, Record
from app.report import pdf
from app.report.exporter import Exporter
from app.report.model import Signature, build
from app.store import Store
from monitors.protocol import Hello, monitor_message
from monitors.simulator import generate

ROOT = Path(__file__).resolve().parent.parent
MONITOR = "demo-room-1"


def session(data_dir: Path, seed: int) -> tuple[Store, Pipeline, int, float, float]:
    rules = load()
    start = time.time() - 3 * 3600
    header, records = generate("typical-responder", seed, minutes=130, start=start, route="esketamine")
    store = Store(data_dir / "vitalwatch.sqlite3")
    pipeline = Pipeline(store, Hub(), rules, start)
    hello = Hello(type="hello", seq=0, protocol=1, monitor_id=MONITOR, stream="example", room="Room 1",
                  mode="demo", vendor="vitalwatch", model="simulator/typical-responder")
    session_id, _, _ = pipeline.hello(hello, start)
    seq, t = 0, start
    for rec in records:
        if rec["type"] in ("truth", "waveform"):
            continue
        seq += 1
        msg = monitor_message.validate_python({**rec, "seq": seq})
        t = rec["t"]
        pipeline.accept(MONITOR, msg, t)
        pipeline.supervise(t)
    pipeline.end_session(session_id, t)
    return store, pipeline, session_id, float(header.meta["dose_time"]), t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="the docs folder to write into")
    parser.add_argument("--seed", type=int, default=3, help="the simulator's seed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store, pipeline, sid, dose_t, end = session(Path(tmp), args.seed)
        record = Record(store.db)
        record.add(sid, CheckIn(t_device=dose_t - 600, label="DEMO-017", weight_kg=72, drug="esketamine",
                                route="intranasal"), "nurse-demo", dose_t - 600)
        for i, minutes in enumerate((0, 5, 10)):
            record.add(sid, Dose(t_device=dose_t + minutes * 60, drug="esketamine", route="intranasal",
                                 dose_mg=28, device=i + 1, lot="DEMO-LOT"), "dr-demo", dose_t + minutes * 60)
        record.add(sid, Observation(t_device=dose_t + 35 * 60, scale="MOAA/S", score=4, note="responds to voice"),
                   "nurse-demo", dose_t + 35 * 60)
        record.add(sid, Confirmation(t_device=end - 120, criterion="alert_oriented", met=True),
                   "nurse-demo", end - 120)
        report = build(store, pipeline.alarm_log, record, sid, pipeline.rules, end + 60)
        report = report.model_copy(update={"signature": Signature(version=1, by="dr-demo", at=end + 60)})
        charts = Exporter()
        try:
            chart = charts.chart(report)
        finally:
            charts.close()
        if chart.unavailable:
            raise SystemExit(chart.note)
        body = pdf.render(report, chart)
        store.close()
    (args.out / "img").mkdir(parents=True, exist_ok=True)
    (args.out / "report-example.pdf").write_bytes(body)
    page = pypdfium2.PdfDocument(body)[0]
    page.render(scale=1.4).to_pil().save(args.out / "img" / "report-page1.png", optimize=True)
    print(f"wrote {args.out / 'report-example.pdf'} and {args.out / 'img' / 'report-page1.png'}")


if __name__ == "__main__":
    main()
