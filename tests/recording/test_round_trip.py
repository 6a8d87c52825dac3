"""Record, export, replay: a session survives the round trip through the live path unchanged."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from monitors import recording
from tests.conftest import Server, free_port
from tests.recording.helpers import START, cli, relative, replay, surge_recording

# Changes that come from people, or from the server's own clock (feed supervision), are not the
# recording's to reproduce.
PEOPLE = {"acknowledged", "audio_paused", "reset"}


def session_data(server: Server) -> dict:
    """Everything a server stored for its one session, with times relative to the first reading."""
    sid = server.get("/api/sessions")[0]["id"]
    readings = server.get(f"/api/sessions/{sid}/readings")
    t0 = readings["numerics"][0]["t"]
    end = readings["numerics"][-1]["t"]
    log = [e for e in server.get(f"/api/sessions/{sid}/alarm-log")
           if e["rule"] != "T4" and e["event"] not in PEOPLE and e["t"] <= end]
    pleth = server.get(f"/api/sessions/{sid}/waveforms", wave="PLETH", start=t0 - 60, end=t0 + 120)
    samples = [(round(r["t"] + k / r["rate"] - t0, 4), s) for r in pleth for k, s in enumerate(r["samples"])]
    return {
        "sid": sid, "t0": t0, "session": server.get(f"/api/sessions/{sid}"),
        "numerics": relative(readings["numerics"], t0, "param", "value"),
        "nibp": relative(readings["nibp"], t0, "status", "sys", "dia", "map"),
        "marks": relative(server.get(f"/api/sessions/{sid}/marks"), t0, "what", "text"),
        "alarms": [(e["rule"], e["event"], e["state"], e["priority"], round(e["t"] - t0, 3)) for e in log],
        "pleth": [(t, s) for t, s in samples if 0 <= t < 120],
    }


def test_round_trip_gives_the_same_readings_marks_and_alarms(server: Server, tmp_path: Path) -> None:
    """A simulated session replayed into a server, exported, and replayed into a fresh server gives
    the same readings, marks, waveform samples and alarms (rule, event, relative time)."""
    rec = surge_recording(tmp_path / "surge.jsonl")
    first = replay(server, rec)
    assert first.returncode == 0, first.stderr
    one = session_data(server)
    assert one["session"]["mode"] == "replay" and one["session"]["room"] == "Room 7"

    # What went in is what the server stored.
    _, records = recording.read(rec)
    records = list(records)
    original = [(round(r["t"] - START, 6), p, v["value"]) for r in records if r["type"] == "numerics"
                for p, v in r["values"].items()]
    assert one["numerics"] == original
    assert [(t, w) for t, w, _ in one["marks"]] == [(20.0, "dose"), (150.0, "note")]
    assert {a[0] for a in one["alarms"]} >= {"B1", "B3", "B4"}

    # A person acknowledges an alarm; the export keeps that too.
    b4 = next(a for a in server.get("/api/alarms", session_id=one["sid"], active=True) if a["rule"] == "B4")
    assert server.post(f"/api/alarms/{b4['id']}/acknowledge").status_code == 200

    out = tmp_path / "export.jsonl.gz"
    exported = cli("export", str(one["sid"]), "--out", str(out), "--data-dir", str(server.data_dir))
    assert exported.returncode == 0, exported.stderr
    with gzip.open(out, "rt") as f:  # gzip because of the name
        lines = [json.loads(line) for line in f]
    head, body = lines[0], lines[1:]
    assert head["format"] == "vitalwatch-recording" and head["version"] == 1 and head["room"] == "Room 7"
    times = [r["t"] for r in body]
    assert times == sorted(times), "an export is in time order"
    assert {r["type"] for r in body} == {"numerics", "nibp", "waveform", "mark", "alarm"}
    acks = [r for r in body if r["type"] == "alarm" and r["event"] == "acknowledged"]
    assert [(a["rule"], a["by"]) for a in acks] == [("B4", "user-clinician")]
    assert sum(r["type"] == "alarm" for r in body) == len(server.get(f"/api/sessions/{one['sid']}/alarm-log"))

    fresh = Server(free_port(), tmp_path / "fresh").start()
    try:
        second = replay(fresh, out, monitor_id="replay-replay-sim-7")
        assert second.returncode == 0, second.stderr
        two = session_data(fresh)
    finally:
        fresh.kill()
    for key in ("numerics", "nibp", "marks"):
        assert two[key] == one[key], key
    assert [a[:4] for a in two["alarms"]] == [a[:4] for a in one["alarms"]]
    for a, b in zip(one["alarms"], two["alarms"]):
        # The server's once-a-second tick on the device clock may find a timer (an escalation)
        # between two readings; the readings themselves fall on whole seconds here.
        assert abs(a[4] - b[4]) < 1.0, (a, b)
    assert len(two["pleth"]) == len(one["pleth"]) >= 125 * 100
    assert all(ta == tb and abs(sa - sb) < 1e-4 for (ta, sa), (tb, sb) in zip(one["pleth"], two["pleth"]))


def test_export_names_what_is_wrong(tmp_path: Path) -> None:
    """Exporting from a folder without a database, or a session that does not exist, fails with
    the reason and exit code 2, and writes nothing."""
    missing = cli("export", "1", "--out", str(tmp_path / "x.jsonl"), "--data-dir", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "no database" in missing.stderr
    from app.store import Store

    Store(tmp_path / "db" / "vitalwatch.sqlite3").close()
    nosession = cli("export", "5", "--out", str(tmp_path / "x.jsonl"), "--data-dir", str(tmp_path / "db"))
    assert nosession.returncode == 2 and "no session 5" in nosession.stderr
    assert not (tmp_path / "x.jsonl").exists()
