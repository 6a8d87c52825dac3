"""The session report end to end: sessions fed with known readings through a real monitor
connection into a real server, the clinical record written into its SQLite, and the report
read back as PDF text, page images, FHIR and CSV."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import signal
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pypdf
import pypdfium2
import pytest
from fhir.resources.R4B.bundle import Bundle

from app.record import CheckIn, Confirmation, Dose, Intervention, Observation, Record
from app.report.chart import Chart
from app.store import Store
from tests.app.helpers import RawMonitor, numerics
from tests.conftest import SSL_CONTEXT, Server, free_port, seconds

LABEL = "P-0042"
MIN = 60.0


@dataclass
class Built:
    session_id: int
    dose_t: float
    sent_numerics: list[tuple[float, str, float]]
    sent_nibp: list[tuple[float, str, float | None, float | None, float | None]]


def _acknowledge_all(server: Server, room: str) -> None:
    sid = next(s["id"] for s in server.get("/api/sessions", active=True) if s["room"] == room)  # type: ignore[union-attr]
    alarms = server.get("/api/alarms", session_id=sid, active=True)
    assert alarms, "the desaturation raised no alarm"
    for alarm in alarms:  # type: ignore[union-attr]
        assert server.post(f"/api/alarms/{alarm['id']}/acknowledge", role="nurse").status_code == 200


def _feed(server: Server, room: str, mode: str, pre_dose: tuple[float, float],
          desaturation: bool = False) -> Built:
    """A session of 100 minutes in the past: numerics once a minute, cuff readings at known
    minutes (two pre-dose, valid ones 38.5 and 43.5 min after the dose with a failed one between,
    a failed one after the last valid one), the dose at 8 min, a record with
    check-in, dose, observation, intervention and confirmation; then ended."""
    t0 = time.time() - 100 * MIN
    dose_t = t0 + 8 * MIN
    cuffs = {2: ("ok", *pre_dose, 96), 6: ("ok", *pre_dose, 95), 18: ("ok", 130, 85, 100),
             46: ("ok", 142, 88, 106), 48: ("failed", None, None, None), 51: ("ok", 138, 86, 103),
             93: ("ok", 126, 80, 95), 96: ("failed", None, None, None)}
    mon = RawMonitor(server, monitor_id=f"mon-{room.replace(' ', '')}", room=room, mode=mode)
    sent_n, sent_c, seq = [], [], 0
    for minute in range(98):
        t = t0 + minute * MIN
        seq += 1
        values = {"HR": 70.0 + minute % 7, "SpO2": 97.0 + minute % 2, "RR": 14.0 + minute % 3}
        if desaturation and 60 <= minute <= 62:
            values["SpO2"] = 91.0  # O1 (SpO2 < 93 for 30 s), acknowledged by the nurse at 62
        assert mon.send(numerics(seq, t, **values))["type"] == "ack"
        sent_n += [(t, p, v) for p, v in values.items()]
        if desaturation and minute == 62:
            _acknowledge_all(server, room)
        if minute in cuffs:
            status, s, d, m = cuffs[minute]
            seq += 1
            tc = t + 30
            msg = {"type": "nibp", "seq": seq, "t": tc, "status": status, "sys": s, "dia": d, "map": m}
            if status == "failed":
                msg["reason"] = "motion"
            assert mon.send(msg)["type"] == "ack"
            sent_c.append((tc, status, s, d, m))
    mon.close()
    session = next(s for s in server.get("/api/sessions") if s["room"] == room)  # type: ignore[union-attr]
    sid = session["id"]
    store = Store(server.data_dir / "vitalwatch.sqlite3")
    record = Record(store.db)
    record.add(sid, CheckIn(t_device=t0, label=LABEL, weight_kg=70, drug="esketamine", route="intranasal"),
               "user-nurse", time.time())
    record.add(sid, Dose(t_device=dose_t, drug="esketamine", route="intranasal", dose_mg=56, device=1),
               "user-clinician", time.time())
    record.add(sid, Observation(t_device=dose_t + 30 * MIN, scale="MOAA/S", score=4, note="drowsy"),
               "user-nurse", time.time())
    record.add(sid, Intervention(t_device=dose_t + 50 * MIN, what="oxygen", oxygen_l_min=2),
               "user-nurse", time.time())
    record.add(sid, Confirmation(t_device=dose_t + 88 * MIN, criterion="alert_oriented", met=True),
               "user-nurse", time.time())
    store.db.close()
    assert server.post(f"/api/sessions/{sid}/end").status_code == 200
    return Built(sid, dose_t, sent_n, sent_c)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(free_port(), tmp_path_factory.mktemp("report") / "data").start()
    try:
        yield srv
    finally:
        srv.kill(signal.SIGTERM)


@pytest.fixture(scope="module")
def live(server: Server) -> Built:
    return _feed(server, "Room L", "live", (124, 78))


@pytest.fixture(scope="module")
def demo(server: Server) -> Built:
    return _feed(server, "Room D", "demo", (150, 95), desaturation=True)


def _bytes(server: Server, path: str, role: str = "clinician") -> bytes:
    r = httpx.get(f"{server.http}{path}", headers=server.headers(role), timeout=seconds(30),
                  verify=SSL_CONTEXT)
    r.raise_for_status()
    return r.content


def _pages(pdf: bytes) -> list[str]:
    return [" ".join(p.extract_text().split()) for p in pypdf.PdfReader(io.BytesIO(pdf)).pages]


def _red_share(pdf: bytes) -> float:
    """The share of page 1's pixels tinted red (the watermark is large, red and translucent)."""
    page = pypdfium2.PdfDocument(pdf)[0]
    bitmap = page.render(scale=0.5, rev_byteorder=True)  # RGB(A) order, not BGR(A)
    pixels = bitmap.to_numpy()[:, :, :3].astype(int)
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    return float(((r > g + 25) & (r > b + 25)).mean())


def test_rems_fields_are_computed_from_the_readings(server: Server, live: Built) -> None:
    """Each REMS field in the PDF is the reading the form asks for: the last valid cuff before the
    dose, the valid one nearest 40 min (38, not the failed one at 40 nor 44), the last valid one
    before the end (not the failed one after it); minutes monitored from first to last reading."""
    report = server.get(f"/api/sessions/{live.session_id}/report.json")
    rems = report["rems"]  # type: ignore[index]
    assert (rems["pre_dose_bp"]["value"]["sys"], rems["pre_dose_bp"]["value"]["dia"]) == (124, 78)
    assert rems["bp_40_min"]["value"]["minutes_from_dose"] == 38.5
    assert (rems["bp_40_min"]["value"]["sys"], rems["bp_40_min"]["value"]["dia"]) == (142, 88)
    assert (rems["end_bp"]["value"]["sys"], rems["end_bp"]["value"]["dia"]) == (126, 80)
    assert rems["pre_dose_acceptable"]["acceptable"] is True
    assert rems["end_acceptable"]["acceptable"] is True
    first = min(t for t, _, _ in live.sent_numerics)
    last = max([t for t, _, _ in live.sent_numerics] + [c[0] for c in live.sent_nibp])
    assert rems["total_minutes"]["value"] == round((last - first) / 60, 1)
    assert [e["text"] for e in rems["events"]] == ["MOAA/S 4 (drowsy)"]

    text = " ".join(_pages(_bytes(server, f"/api/sessions/{live.session_id}/report.pdf")))
    assert "DRAFT — not signed" in text
    assert f"{LABEL} (the check-in)" in text
    # Each field's row: its name, then the value computed (the table reads row by row).
    assert "BP before the dose 124/78 mmHg (MAP 95) at -1.5 min" in text
    assert "BP at about 40 min 142/88 mmHg (MAP 106) at +38.5 min" in text
    assert "BP before the end 126/80 mmHg (MAP 95) at +85.5 min" in text
    assert "Vitals acceptable before dosing yes" in text and "Vitals acceptable at the end yes" in text
    assert f"Total minutes monitored {rems['total_minutes']['value']:g} min" in text
    assert "Sedation, dissociation, breathing events +30.0 min MOAA/S 4 (drowsy)" in text
    assert "MOAA/S 4 (drowsy)" in text and "oxygen" in text and "alert_oriented" in text


def test_pre_dose_reading_over_a_gate_is_not_acceptable(server: Server, demo: Built) -> None:
    """A pre-dose reading of 150/95 meets the G1 gate of the rules file: 'acceptable' is no, and
    says which rule and limit."""
    rems = server.get(f"/api/sessions/{demo.session_id}/report.json")["rems"]  # type: ignore[index]
    judged = rems["pre_dose_acceptable"]
    assert judged["acceptable"] is False
    assert any(h.startswith("G1 ") and "140" in h for h in judged["held"]), judged
    text = " ".join(_pages(_bytes(server, f"/api/sessions/{demo.session_id}/report.pdf")))
    assert "Vitals acceptable before dosing no: G1 Pre-dose blood pressure raised: SBP 150 > 140" in text


def test_alarms_show_their_acknowledgement_and_breathing_events(server: Server, demo: Built) -> None:
    """A desaturation's alarm is in the report with who acknowledged it and when, and is a
    breathing event on the REMS form."""
    report = server.get(f"/api/sessions/{demo.session_id}/report.json")
    o1 = next(a for a in report["alarms"] if a["rule"] == "O1")  # type: ignore[index]
    assert o1["acknowledged_by"] == "user-nurse" and o1["acknowledged_at"] is not None
    events = report["rems"]["events"]  # type: ignore[index]
    assert [e["kind"] for e in events] == ["observation", "breathing"]
    assert events[1]["text"].startswith("O1 SpO2 low")
    text = " ".join(_pages(_bytes(server, f"/api/sessions/{demo.session_id}/report.pdf")))
    assert "O1 SpO2 low" in text and "user-nurse at" in text


def test_demo_is_watermarked_on_every_page_and_live_is_not(server: Server, live: Built, demo: Built) -> None:
    """DEMO stands on every page of a demo session's PDF (text and a large red tint on the page
    image); a live session's PDF and HTML carry no mode watermark at all."""
    demo_pdf = _bytes(server, f"/api/sessions/{demo.session_id}/report.pdf")
    live_pdf = _bytes(server, f"/api/sessions/{live.session_id}/report.pdf")
    demo_pages, live_pages = _pages(demo_pdf), _pages(live_pdf)
    assert len(demo_pages) >= 2
    assert all("DEMO" in p for p in demo_pages)
    assert not any(w in p for p in live_pages for w in ("DEMO", "REPLAY", "TEST"))
    assert _red_share(demo_pdf) > 0.02 > _red_share(live_pdf)
    assert b"data-watermark" not in _bytes(server, f"/api/sessions/{live.session_id}/report.html")
    assert b'data-watermark="DEMO"' in _bytes(server, f"/api/sessions/{demo.session_id}/report.html")


def test_signing_stores_an_immutable_version_and_amending_adds_one(server: Server, live: Built) -> None:
    """Signing stores v1 (PDF and model with their SHA-256), served byte for byte afterwards;
    the table refuses UPDATE and DELETE; only clinicians sign; an amendment needs a reason and
    makes v2 from the corrected record while v1 stays as signed; both are in the audit trail."""
    sid = live.session_id
    assert server.post(f"/api/sessions/{sid}/report/sign", role="nurse").status_code == 403
    assert server.post(f"/api/sessions/{sid}/report/amend", json={"reason": "x"}).status_code == 409
    r = server.post(f"/api/sessions/{sid}/report/sign", json={})
    assert r.status_code == 201, r.text
    v1 = r.json()
    assert v1["version"] == 1 and v1["signed_by"] == "user-clinician"
    assert server.post(f"/api/sessions/{sid}/report/sign").status_code == 409
    pdf = _bytes(server, f"/api/sessions/{sid}/report.pdf")
    assert hashlib.sha256(pdf).hexdigest() == v1["pdf_sha256"]
    assert "Signed, version 1, by user-clinician" in _pages(pdf)[0]
    assert "DRAFT" not in " ".join(_pages(pdf))

    # Autocommit: a refused statement must not leave a transaction holding the write lock.
    db = sqlite3.connect(server.data_dir / "vitalwatch.sqlite3", isolation_level=None)
    for sql in ("UPDATE reports SET signed_by='someone else'", "UPDATE reports SET pdf=x''",
                "DELETE FROM reports"):
        with pytest.raises(sqlite3.IntegrityError, match="immutable"):
            db.execute(sql)

    missing = server.post(f"/api/sessions/{sid}/report/amend", json={})
    assert missing.status_code == 422 and "reason" in missing.text
    store = Store(server.data_dir / "vitalwatch.sqlite3")  # the lot, added as a correction
    record = Record(store.db)
    dose = record.current(sid, "dose")[0]
    record.add(sid, dose.entry.model_copy(update={"lot": "L-123", "replaces": dose.id}), "user-clinician",
               time.time())
    store.db.close()
    r = server.post(f"/api/sessions/{sid}/report/amend", json={"reason": "dose lot added"})
    assert r.status_code == 201, r.text
    v2 = r.json()
    assert v2["version"] == 2 and v2["reason"] == "dose lot added"
    versions = server.get(f"/api/sessions/{sid}/reports")
    assert [v["version"] for v in versions] == [1, 2]  # type: ignore[union-attr]
    assert hashlib.sha256(_bytes(server, f"/api/sessions/{sid}/report.pdf?version=1")).hexdigest() == v1["pdf_sha256"]
    assert "amended: dose lot added" in _pages(_bytes(server, f"/api/sessions/{sid}/report.pdf"))[0]
    assert server.get(f"/api/sessions/{sid}/report.json")["doses"][0]["data"]["lot"] == "L-123"  # type: ignore[index]
    assert server.get(f"/api/sessions/{sid}/report.json", version=1)["doses"][0]["data"]["lot"] == ""  # type: ignore[index]
    audit = db.execute("SELECT action, user, old, new FROM audit WHERE target=? ORDER BY id",
                       (f"session {sid}",)).fetchall()
    db.close()
    actions = [a for a in audit if a[0].startswith("report_")]
    assert [a[0] for a in actions] == ["report_signed", "report_amended"]
    assert json.loads(actions[1][2])["version"] == 1 and json.loads(actions[1][3])["version"] == 2


def test_fhir_bundle_validates_with_loinc_codes_and_no_name(server: Server, live: Built) -> None:
    """The FHIR export is a valid R4B Bundle: Patient identified by the label alone (no name),
    vitals one a minute under their LOINC codes, cuff readings as BP panels, the dose and the
    intervention."""
    bundle = server.get(f"/api/sessions/{live.session_id}/fhir")
    Bundle.model_validate(bundle)
    resources = [e["resource"] for e in bundle["entry"]]  # type: ignore[index]
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    assert patient["identifier"][0]["value"] == LABEL and "name" not in patient
    codes = {c["code"] for r in resources if r["resourceType"] == "Observation"
             for c in r["code"]["coding"] + [c for p in r.get("component", []) for c in p["code"]["coding"]]}
    assert {"8867-4", "59408-5", "2708-6", "9279-1", "85354-9", "8480-6", "8462-4"} <= codes
    heart = [r for r in resources if r.get("code", {}).get("text") == "HR"]
    assert len(heart) == len({t - t % 60 for t, p, _ in live.sent_numerics if p == "HR"})
    panels = [r for r in resources if r.get("code", {}).get("text") == "NIBP"]
    assert len(panels) == sum(1 for c in live.sent_nibp if c[1] == "ok")
    kinds = {r["resourceType"] for r in resources}
    assert {"Encounter", "MedicationAdministration", "Procedure"} <= kinds
    assert LABEL in json.dumps(bundle) and "user-" not in json.dumps(patient)


def test_readings_csv_round_trips(server: Server, live: Built) -> None:
    """The CSV gives back every reading sent, exactly: numerics and each cuff's SBP/DBP/MAP with
    its status."""
    rows = list(csv.DictReader(io.StringIO(_bytes(server, f"/api/sessions/{live.session_id}/readings.csv").decode())))
    got_n = sorted((float(r["t"]), r["param"], float(r["value"])) for r in rows if r["source"] == "numerics")
    assert got_n == sorted(live.sent_numerics)
    by_t: dict[float, dict[str, str]] = {}
    for r in rows:
        if r["source"] == "nibp":
            by_t.setdefault(float(r["t"]), {"status": r["status"]})[r["param"]] = r["value"]
    got_c = [(t, v["status"], *(float(v[p]) if v[p] else None for p in ("SBP", "DBP", "MAP")))
             for t, v in sorted(by_t.items())]
    assert got_c == live.sent_nibp


def test_course_puts_a_labels_sessions_side_by_side(server: Server, live: Built, demo: Built) -> None:
    """The course of a label lists its sessions with peak BP, alarms by priority and doses; the
    course page is served to a reviewer."""
    course = server.get(f"/api/patients/{LABEL}/course", role="reviewer")
    sessions = {s["session_id"]: s for s in course["sessions"]}  # type: ignore[index]
    assert set(sessions) == {live.session_id, demo.session_id}
    assert (sessions[live.session_id]["peak_sbp"], sessions[live.session_id]["peak_dbp"]) == (142, 88)
    assert (sessions[demo.session_id]["peak_sbp"], sessions[demo.session_id]["peak_dbp"]) == (150, 95)
    assert sessions[demo.session_id]["alarms"].get("low", 0) >= 1  # G1 on the 150/95 readings
    assert sessions[live.session_id]["doses"][0]["dose_mg"] == 56
    assert server.get("/api/patients/nobody/course")["sessions"] == []  # type: ignore[index]
    page = httpx.get(f"{server.http}/course/{LABEL}", headers=server.headers("reviewer"),
                     timeout=seconds(10), verify=SSL_CONTEXT)
    assert page.status_code == 200 and "course.js" in page.text


def test_missing_data_is_shown_as_missing(tmp_path: Path) -> None:
    """A session with no readings and no dose: every REMS field is missing and says why; nothing
    is filled in."""
    from alerts.rules import load
    from app.alarm_log import AlarmLog
    from app.report import layout, model

    store = Store(tmp_path / "db.sqlite3")
    sid = store.start_session("Room 9", "test", 1_800_000_000.0)["id"]
    report = model.build(store, AlarmLog(store.db), Record(store.db), sid, load(), 1_800_000_100.0)
    f = report.rems
    assert f.pre_dose_bp.value is None and "no dose" in f.pre_dose_bp.source
    assert f.bp_40_min.value is None and f.end_bp.value is None
    assert f.pre_dose_acceptable.acceptable is None and f.total_minutes.value is None
    assert report.label is None and report.deliveries.available is False
    rems_rows = layout.document(report, Chart()).rems.rows
    assert all(row[1] in (layout.MISSING, "none recorded") for row in rems_rows)


def test_record_text_is_shown_verbatim_never_run(server: Server, demo: Built) -> None:
    """Text typed into the record is printed as written in the PDF (never read as Typst markup)
    and escaped in the HTML page (never run as a script)."""
    text = '<script>alert(1)</script> #panic("x") $x^2$ *bold* ] \\'
    store = Store(server.data_dir / "vitalwatch.sqlite3")
    Record(store.db).add(demo.session_id, Intervention(t_device=demo.dose_t + 60 * MIN, what="other", detail=text),
                         "user-nurse", time.time())
    store.db.close()
    pdf_text = " ".join(_pages(_bytes(server, f"/api/sessions/{demo.session_id}/report.pdf")))
    assert text in pdf_text
    page = _bytes(server, f"/api/sessions/{demo.session_id}/report.html").decode()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_deliveries_are_reported_once_the_database_records_them(tmp_path: Path) -> None:
    """With a ``deliveries`` table the report lists each delivery of the session's alarms per
    recipient; without one it says none are recorded, instead of an empty table."""
    from alerts.rules import load
    from app.alarm_log import AlarmLog
    from app.report import layout, model

    store = Store(tmp_path / "db.sqlite3")
    sid = store.start_session("Room 9", "live", 1_800_000_000.0)["id"]
    before = model.build(store, AlarmLog(store.db), Record(store.db), sid, load(), 1_800_000_100.0)
    table = next(t for t in layout.document(before, Chart()).tables if t.title == "Alarm deliveries")
    assert not table.rows and table.empty.startswith("not recorded")
    store.db.execute("CREATE TABLE deliveries (session_id INTEGER, alarm_id INTEGER, recipient TEXT, status TEXT)")
    store.db.execute("INSERT INTO deliveries VALUES (?, 1, 'nurse-a', 'delivered'), (?, 2, 'x', 'failed')",
                     (sid, sid + 1))
    after = model.build(store, AlarmLog(store.db), Record(store.db), sid, load(), 1_800_000_100.0)
    assert after.deliveries.available and [d["recipient"] for d in after.deliveries.rows] == ["nurse-a"]
    table = next(t for t in layout.document(after, Chart()).tables if t.title == "Alarm deliveries")
    assert table.columns == ["alarm_id", "recipient", "session_id", "status"]
    assert table.rows == [["1", "nurse-a", str(sid), "delivered"]]


def test_course_shows_the_latest_ten_sessions_and_counts_the_rest(tmp_path: Path) -> None:
    """A label with 12 sessions: the course shows the latest 10, oldest first, and says 2 more."""
    from app.alarm_log import AlarmLog
    from app.report.course import MAX_SESSIONS, course

    store = Store(tmp_path / "db.sqlite3")
    ids = [store.start_session(f"Room {i}", "test", 1_800_000_000.0 + i, label="K-12")["id"] for i in range(12)]
    shown = course(store, AlarmLog(store.db), Record(store.db), "K-12")
    assert MAX_SESSIONS == 10 and [s.session_id for s in shown.sessions] == ids[2:] and shown.more == 2


def test_discharge_criteria_are_judged_at_the_end_of_monitoring(server: Server, live: Built) -> None:
    """The report shows the discharge criteria as alerts.discharge judges them at the last
    reading: an esketamine session monitored 90 min after the dose has not reached its
    minimum time (120 min in the rules), while the nurse's confirmation is shown as met."""
    report = server.get(f"/api/sessions/{live.session_id}/report.json")
    assert isinstance(report, dict)
    criteria = {c["criterion"]: c for c in report["discharge"]["criteria"]}
    assert criteria["Minimum time after the dose"]["status"] == "unmet"
    assert criteria["Alert and oriented"]["status"] == "met"
    assert report["discharge"]["ready"] is False
    text = " ".join(_pages(_bytes(server, f"/api/sessions/{live.session_id}/report.pdf")))
    assert "Discharge criteria at" in text and "not all met" in text


def _line_vertices(svg: str, colour: str) -> list[tuple[float, float]]:
    """The vertices of the plotted line (not its legend swatch) drawn in ``colour`` (r, g, b)."""
    for d in re.findall(r'<path class="js-line" d="([^"]+)" style="[^"]*stroke: rgb\(' + colour + r'\)', svg):
        if "L" in d:
            return [(float(x), float(y)) for x, y in re.findall(r"([-\d.]+),([-\d.]+)", d)]
    raise AssertionError(f"no line drawn in rgb({colour})")


def test_trend_chart_is_vector_and_plots_the_readings(server: Server, live: Built) -> None:
    """The trend chart is plotly's SVG: each minute's heart rate is a vertex of its line at the
    height of its value and each valid cuff reading a marker; the PDF embeds it as vector paths
    and text (no raster image anywhere), and its page image shows the lines, not the
    'unavailable' box; /api/health counts the exports and no failure."""
    report = server.get(f"/api/sessions/{live.session_id}/report.json")
    page = _bytes(server, f"/api/sessions/{live.session_id}/report.html").decode()
    svg = page[page.index('<figure id="trend">'):page.index("</figure>")]
    assert svg.startswith('<figure id="trend"><svg class="main-svg"')
    hr = [v for _, v in report["trend"]["HR"]]  # type: ignore[index]
    vertices = _line_vertices(svg, "27, 110, 32")  # HR
    assert len(vertices) == len(hr) == 98
    # One scale maps every value to its height: the line is the data, point for point.
    lo, hi = hr.index(min(hr)), hr.index(max(hr))
    per_unit = (vertices[hi][1] - vertices[lo][1]) / (hr[hi] - hr[lo])
    assert per_unit < 0  # higher values are drawn higher up
    for (_, y), v in zip(vertices, hr):
        assert y == pytest.approx(vertices[lo][1] + (v - hr[lo]) * per_unit, abs=0.05)
    valid_cuffs = sum(1 for c in live.sent_nibp if c[1] == "ok")
    sbp = svg.split("stroke: rgb(179, 38, 30)", 1)[1].split('class="trace', 1)[0]
    assert sbp.count('class="point"') == valid_cuffs == 6

    body = _bytes(server, f"/api/sessions/{live.session_id}/report.pdf")
    reader = pypdf.PdfReader(io.BytesIO(body))
    assert all(not p.images for p in reader.pages)  # images in forms included
    text = " ".join(_pages(body))
    assert "SBP DBP MAP HR SpO2 RR" in text and "minutes from the dose" in text  # the chart's own text
    assert "unavailable" not in text
    green = 0
    for p in pypdfium2.PdfDocument(body):
        pixels = p.render(scale=1, rev_byteorder=True).to_numpy()[:, :, :3].astype(int)
        r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
        green += int(((g > r + 40) & (g > b + 40)).sum())  # the HR line, #1b6e20
    assert green > 300
    charts = server.get("/api/health")["report_charts"]  # type: ignore[index]
    assert charts["exported"] >= 2 and charts["failed"] == 0 and charts["running"]
