"""A server killed (SIGKILL) mid-session and restarted on the same data resumes every session's
alarm timers exactly: the alarm log after the restart is the one offline evaluation of the same
messages gives, change for change and to the millisecond, with nothing logged twice.

One server takes four rooms at once, each a raw monitor sending a session whose device clock
runs 2 h behind the server's (so it streams minutes of device time in seconds of real time):
pre-dose readings, the dose mark, then each room's story, killed at device time +150 s and
resumed from +151 s on the restarted server. Beside them: a change decided but never logged, a
session longer than the replay window, and simulated sessions through real uplinks that buffer
and resend across the kill.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from alerts.intake import Clock
from alerts.rules import load
from alerts.system import AlarmSystem, Change
from app import lease, pipeline, resume
from app.hub import Hub
from app.store import Store
from monitors.adapter import Identity, Paced
from monitors.protocol import Hello
from monitors.uplink import Uplink
from offline.evaluate import feed, parse
from tests.app.helpers import RawMonitor, numerics, rules_with
from tests.app.test_alarm_safety_live import Case, records
from tests.app.test_alarm_safety_live import key as safety_key
from tests.app.test_alarm_safety_live import offline as safety_offline
from tests.conftest import Server, free_port, seconds, wait_for
from tests.postgres import TEMPLATE

KILL_AT = 150  # device seconds from the session's start: the last message before the kill
DOSE_AT = 60


@dataclass
class Room:
    name: str
    end: int  # the last device second sent
    spo2_from: int | None = None  # SpO2 85 from then on
    cuffs: dict[int, tuple[float, float, float]] = field(default_factory=dict)
    ack: str = ""  # the rule acknowledged after the cuff reading at +120
    messages: list[dict[str, Any]] = field(default_factory=list)

    def build(self, t0: float) -> None:
        cuffs = {30: (120.0, 80.0, 93.0), 50: (122.0, 78.0, 93.0), **self.cuffs}
        for s in range(self.end + 1):
            t = t0 + s
            if s == DOSE_AT:
                self.messages.append({"type": "mark", "t": t, "what": "dose"})
            spo2 = 85 if self.spo2_from is not None and s >= self.spo2_from else 98
            self.messages.append(numerics(0, t, HR=80, PR=80, SpO2=spo2, RR=14, EtCO2=38))
            if s in cuffs:
                sys_, dia, map_ = cuffs[s]
                self.messages.append({"type": "nibp", "t": t + 0.5, "status": "ok", "sys": sys_,
                                      "dia": dia, "map": map_})


ROOMS = [
    # B3 (SBP 185) asks for a repeat within 2 min (+ 1 min grace): due at +300, after the kill.
    Room("Repeat", 330, cuffs={120: (185.0, 95.0, 125.0)}),
    # SpO2 85 from +140: O2 pending 10 of its 15 s when the server dies, raised at +155.
    Room("Desat", 170, spo2_from=140),
    # A cuff at +100 after the dose: the next is due 5 min later, overdue (T3) after 3 more.
    Room("Overdue", 600, cuffs={100: (118.0, 76.0, 90.0)}),
    # As "Repeat", with B3 acknowledged before the kill: its reminder 3 min after the ack.
    Room("Ack", 330, cuffs={120: (185.0, 95.0, 125.0)}, ack="B3"),
]


def offline(room: Room, acked: dict[str, Any] | None) -> list[Change]:
    """The room's messages evaluated offline, the acknowledgement made at its logged time."""
    system, clock = AlarmSystem(load()), Clock()
    out: list[Change] = []
    for msg in room.messages:
        if acked is not None and msg["t"] > acked["t"] and not any(c.event == "acknowledged" for c in out):
            out += system.act(acked["t"], acked["rule"], "acknowledge", acked["by"])
        out += feed(system, clock, msg)
    return out


def key(entries: list[Any], t0: float) -> list[tuple]:
    def get(e: Any, k: str) -> Any:
        return e[k] if isinstance(e, dict) else getattr(e, k)
    return [(get(e, "rule"), get(e, "event"), get(e, "state"), get(e, "priority"), get(e, "by"),
             round(get(e, "t") - t0, 3)) for e in entries]


def send(server: Server, monitors: dict[str, RawMonitor], rooms: list[Room], upto: float,
         sent: dict[str, int]) -> None:
    """Send each room's messages up to device time ``upto``, the rooms in turn (each monitor
    well under its rate limit)."""
    while True:
        progressed = False
        for room in rooms:
            mon, i = monitors[room.name], sent[room.name]
            batch = []
            while i < len(room.messages) and room.messages[i]["t"] <= upto and len(batch) < 10:
                batch.append(room.messages[i])
                i += 1
            for msg in batch:
                mon.seq += 1  # type: ignore[attr-defined]
                reply = mon.send({**msg, "seq": mon.seq})  # type: ignore[attr-defined]
                assert reply["type"] == "ack", reply
            progressed = progressed or bool(batch)
            sent[room.name] = i
        if not progressed:
            return


def connect(server: Server, room: Room, stream: str) -> RawMonitor:
    mon = RawMonitor(server, f"mon-{room.name}", room.name, stream=stream)
    mon.seq = mon.welcome["last_seq"]  # type: ignore[attr-defined]
    return mon


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def restarted(request: pytest.FixtureRequest,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The four rooms streamed, the server killed at +150 s and restarted, the rest streamed:
    each room's alarm log, its offline evaluation and the restarted server's data dir; on
    SQLite and on PostgreSQL (what the restart reads back comes from either store)."""
    database = None
    if request.param == "postgresql":
        database = request.getfixturevalue("postgres").create_database(TEMPLATE)
    srv = Server(free_port(), tmp_path_factory.mktemp("restart") / "data", database=database).start()
    t0 = float(int(time.time()) - 7200)
    for room in ROOMS:
        room.messages = []
        room.build(t0)
    streams = {r.name: f"stream-{r.name}" for r in ROOMS}
    try:
        monitors = {r.name: connect(srv, r, streams[r.name]) for r in ROOMS}
        sent = {r.name: 0 for r in ROOMS}
        send(srv, monitors, ROOMS, t0 + 125.5, sent)
        sessions = {s["room"]: s for s in srv.get("/api/sessions")}
        acked: dict[str, dict[str, Any]] = {}
        for room in (r for r in ROOMS if r.ack):
            alarm = next(a for a in srv.get("/api/alarms") if a["session_id"] ==
                         sessions[room.name]["id"] and a["rule"] == room.ack)
            assert srv.post(f"/api/alarms/{alarm['id']}/acknowledge").status_code == 200
            log = srv.get(f"/api/sessions/{sessions[room.name]['id']}/alarm-log")
            acked[room.name] = next(e for e in log if e["event"] == "acknowledged")
        send(srv, monitors, ROOMS, t0 + KILL_AT + 0.5, sent)
        srv.kill(signal.SIGKILL)
        for mon in monitors.values():
            mon.ws.close_socket()  # the server is gone: no closing handshake to wait for
        srv.start()
        monitors = {r.name: connect(srv, r, streams[r.name]) for r in ROOMS}
        send(srv, monitors, ROOMS, t0 + 1e6, sent)
        for mon in monitors.values():
            mon.close()
        out = {}
        for room in ROOMS:
            sid = sessions[room.name]["id"]
            log = srv.get(f"/api/sessions/{sid}/alarm-log")
            out[room.name] = {"live": key(changes(log), t0), "log": log, "t0": t0, "session_id": sid,
                              "offline": key(offline(room, acked.get(room.name)), t0)}
        out["server"] = srv
        yield out
    finally:
        srv.kill(signal.SIGTERM)


def changes(log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The alarm changes of a log: without T4 (the restart's own feed gap) and without the
    handover notes a shared store's restart writes (they change no alarm)."""
    return [e for e in log if e["rule"] != "T4" and e["event"] != pipeline.HANDOVER]


def _events(result: dict[str, Any], rule: str) -> list[tuple]:
    return [e for e in result["live"] if e[0] == rule]


def test_repeat_reading_missing_after_restart(restarted: dict[str, Any]) -> None:
    """A cuff rule (B3) waiting for its repeat reading when the server is killed: after the
    restart T3 says the repeat is missing at the deadline offline evaluation gives: the first
    reading after +300.5 s (the cuff at +120.5, 2 min + 1 min grace)."""
    room = restarted["Repeat"]
    assert room["live"] == room["offline"]
    assert ("T3", "raised", "active", "medium", "", 301.0) in room["live"]
    # B4's confirming reading is missing too: raised on the unconfirmed one, at the same time.
    assert ("B4", "raised", "active", "high", "", 301.0) in room["live"]


def test_pending_condition_raised_on_time_after_restart(restarted: dict[str, Any]) -> None:
    """A condition pending its delay across the restart (O2, 15 s from +140) is raised at +155,
    as without the restart, not 15 s after the server came back."""
    room = restarted["Desat"]
    assert room["live"] == room["offline"]
    assert _events(room, "O2")[0][1:] == ("raised", "active", "medium", "", 155.0)


def test_nibp_overdue_on_schedule_after_restart(restarted: dict[str, Any]) -> None:
    """NIBP overdue (T3) counts from the last valid cuff reading before the restart (+100 s:
    overdue after 5 + 3 min, at +581), not from the dose."""
    room = restarted["Overdue"]
    assert room["live"] == room["offline"]
    assert _events(room, "T3")[0][1:] == ("raised", "active", "medium", "", 581.0)


def test_acknowledged_alarm_stays_acknowledged_once_logged(restarted: dict[str, Any]) -> None:
    """An alarm acknowledged before the kill stays acknowledged by the same person after the
    restart, its reminder falls due 3 min after the acknowledgement as offline, and no change
    of the session is logged twice."""
    room = restarted["Ack"]
    assert room["live"] == room["offline"]
    b3 = _events(room, "B3")
    assert [e[1] for e in b3] == ["raised", "acknowledged", "reminder"]
    assert b3[1][4] == "user-clinician"
    assert b3[2][5] == pytest.approx(b3[1][5] + 180, abs=1.0)
    alarm = next(a for a in restarted["server"].get("/api/alarms")
                 if a["session_id"] == room["session_id"] and a["rule"] == "B3")
    assert alarm["acknowledged_by"] == "user-clinician"
    assert len(room["log"]) == len({(e["rule"], e["event"], e["t"]) for e in room["log"]})


def test_a_restart_on_a_shared_store_logs_the_takeover_of_each_signalled_alarm(
        restarted: dict[str, Any]) -> None:
    """On PostgreSQL the restarted server cannot tell its own earlier run from another
    instance: it takes each session's lease over and logs the handover once for every alarm
    still signalled then, naming its predecessor. On its own SQLite file it logs none."""
    for name in ("Repeat", "Ack"):
        room = restarted[name]
        handovers = [e for e in room["log"] if e["event"] == pipeline.HANDOVER]
        if restarted["server"].database is None:
            assert handovers == []
            continue
        signalled = {e["rule"] for e in room["log"] if e["event"] == "raised"
                     and room["t0"] + KILL_AT + 0.5 >= e["t"]}
        assert sorted(e["rule"] for e in handovers) == sorted(signalled), handovers
        assert all("taken over from" in e["message"] for e in handovers), handovers
    resumed = restarted["server"].get("/api/health")["resumed"][str(room["session_id"])]
    assert resumed["diverged"] == 0 and resumed["refused_actions"] == 0 and resumed["logged_now"] == 0


def test_change_decided_but_not_logged_is_logged_once(request: pytest.FixtureRequest, tmp_path: Path,
                                                       restarted: dict[str, Any]) -> None:
    """Changes the server decided but died before logging (O2 at +155 and O1 at +170: the log
    rows from +155 on deleted from a copy of the data) are logged at the next start, once, at
    their own times."""
    src: Server = restarted["server"]
    data = tmp_path / "data"
    data.mkdir()
    copied = None
    if src.database is None:
        with sqlite3.connect(src.data_dir / "vitalwatch.sqlite3") as db, \
                sqlite3.connect(data / "vitalwatch.sqlite3") as copy:
            db.backup(copy)
    else:
        copied = request.getfixturevalue("postgres").copy_database(src.database)
    sid = restarted["Desat"]["session_id"]
    db = Server(0, data, database=copied).db()
    try:
        t = db.execute("SELECT raised FROM alarms WHERE session_id=? AND rule='O2'", (sid,)).fetchone()["raised"]
        assert db.execute("DELETE FROM alarm_log WHERE session_id=? AND t>=? AND event!=?",
                          (sid, t, pipeline.HANDOVER)).rowcount == 2
        db.execute("DELETE FROM alarms WHERE session_id=? AND raised>=?", (sid, t))
    finally:
        db.close()
    srv = Server(free_port(), data, database=copied).start()
    try:
        # On PostgreSQL the copy holds the lease of the server it was copied from: the session
        # is run again once that lease has expired, as after a kill.
        wanted = restarted["Desat"]["offline"]
        wait_for(lambda: key(changes(srv.get(f"/api/sessions/{sid}/alarm-log")),
                             restarted["Desat"]["t0"]) == wanted,
                 timeout=lease.TTL_S + 10, what="the changes logged")
        log = changes(srv.get(f"/api/sessions/{sid}/alarm-log"))
        assert key(log, restarted["Desat"]["t0"]) == wanted
    finally:
        srv.kill(signal.SIGTERM)


def test_replay_silence_matches_the_pipeline() -> None:
    """The replay's feed silence is the live pipeline's."""
    assert resume.SILENCE_S == pipeline.SILENCE_S


def test_long_session_replayed_over_its_window(tmp_path: Path) -> None:
    """A session open longer than the replay window (2.5 h, cuffs on schedule; B3 raised on a
    reading at +144 min, the first of the two readings that clear it at +145) restarted at +146
    min: its alarm log to the end is the one offline evaluation of the whole session gives (B3
    cleared by the reading at +147), the replay having read only its last 2 h."""
    t0, kill = 1.8e9, 146 * 60
    recs: list[dict[str, Any]] = []
    cuffs = {*range(60, 600, 120), *range(600, 3600, 300), *range(3600, 9000, 900)}
    for s in range(150 * 60):
        if s == 600:
            recs.append({"type": "mark", "t": t0 + s, "what": "dose"})
        recs.append(numerics(0, t0 + s, HR=80, PR=80, SpO2=98, RR=14, EtCO2=38))
        if s in cuffs or s in (144 * 60, 145 * 60, 147 * 60):
            sys_ = {144 * 60: 185.0, 145 * 60: 150.0}.get(s, 120.0)
            recs.append({"type": "nibp", "t": t0 + s + 0.5, "status": "ok", "sys": sys_,
                         "dia": 80.0, "map": 93.0})
    rules = load()
    path = tmp_path / "vitalwatch.sqlite3"

    def run(p: pipeline.Pipeline, part: list[dict[str, Any]], seq: int) -> int:
        hello = Hello(type="hello", seq=0, protocol=1, monitor_id="mon-long", stream="s",
                      room="Long", mode="test")
        p.hello(hello, part[0]["t"])
        for rec in part:
            seq += 1
            assert p.accept("mon-long", parse({**rec, "seq": seq}), rec["t"] + 0.1)
        return seq

    first = pipeline.Pipeline(Store(path), Hub(), rules, t0)
    first.started(t0)
    seq = run(first, [r for r in recs if r["t"] < t0 + kill], 0)
    first.store.db.close()
    store = Store(path)
    second = pipeline.Pipeline(store, Hub(), rules, t0 + kill)
    second.started(t0 + kill)
    (session,) = second.sessions.values()
    assert session.resumed["messages"] <= 2 * 3600 + 20  # the window, not the whole session
    run(second, [r for r in recs if r["t"] >= t0 + kill], seq)
    system, clock = AlarmSystem(rules), Clock()
    expected = [c for r in recs for c in feed(system, clock, r)]
    logged = [e for e in second.alarm_log.log(session.id) if e["rule"] != "T4"]
    assert key(logged, t0) == key(expected, t0)
    assert ("B3", "cleared", "cleared", "medium", "", 147 * 60 + 0.5) in key(logged, t0)
    store.close()


def test_simulated_sessions_through_a_kill_alarm_as_offline(tmp_path: Path) -> None:
    """Simulated sessions streamed by real uplinks (the pleth too), the server killed mid-way
    and restarted while the uplinks buffer and resend: the alarm log of each is the one offline
    evaluation gives, and the replay agreed with the log (derived history: the pulse guard, the
    pleth, asystole; the NIBP schedule and cuff confirmations)."""
    cases = [Case("desaturation-under-motion", 14, {}), Case("cardiac-arrest", 10, {}, pleth=True),
             Case("recovery-crisis", 25, {})]
    streams = {c.scenario: records(c) for c in cases}
    srv = Server(free_port(), tmp_path / "data").start()

    async def one(name: str, recs: list[dict]) -> None:
        speed = 45 if any(r["type"] == "waveform" for r in recs) else 150
        source = Paced(Identity(f"sim-{name}", name, "test"), recs, speed=speed)
        await Uplink(srv.ws, source, token=srv.device_token(f"sim-{name}")).run()

    async def run() -> None:
        tasks = [asyncio.create_task(one(n, r)) for n, r in streams.items()]
        await asyncio.sleep(4)  # into the sessions (paced on real time), not a timeout
        srv.kill(signal.SIGKILL)
        await asyncio.get_running_loop().run_in_executor(None, srv.start)
        await asyncio.wait_for(asyncio.gather(*tasks), seconds(120))

    try:
        asyncio.run(run())
        sessions = {s["room"]: s for s in srv.get("/api/sessions")}
        resumed = srv.get("/api/health")["resumed"]
        for case in cases:
            recs, session = streams[case.scenario], sessions[case.scenario]
            assert resumed[str(session["id"])]["diverged"] == 0, case.scenario
            live = [e for e in srv.get(f"/api/sessions/{session['id']}/alarm-log") if e["rule"] != "T4"]
            t0 = next(r["t"] for r in recs if r["type"] == "mark" and r["what"] == "dose")
            assert safety_key(live, session["dose"]) == safety_key(safety_offline(recs), t0), case.scenario
    finally:
        srv.kill(signal.SIGTERM)


def _drive(path: Path, restart_at: float | None, first_rules: Any = None,
           diverged: int = 0) -> list[tuple]:
    """One session through a Pipeline on a real database, supervised every second — pre-dose
    readings, the baseline captured and the dose marked by a clinician, O2's delay changed for
    the session, SpO2 85, O3 acknowledged, the monitor silent for 20 s from +220 (its feed lost) — restarted (a
    new Pipeline on the same file) at ``restart_at``, on ``first_rules`` until then if given
    (its replay then differs from its log by ``diverged`` changes); its log."""
    t0, rules = 1.8e9, load()
    p = pipeline.Pipeline(Store(path), Hub(), first_rules or rules, t0)
    p.started(t0)
    hello = Hello(type="hello", seq=0, protocol=1, monitor_id="mon-twin", stream="s",
                  room="Twin", mode="test")
    p.hello(hello, t0)
    for s in range(341):
        t = t0 + s
        if restart_at is not None and s == restart_at:
            p.store.close()
            p = pipeline.Pipeline(Store(path), Hub(), rules, t)
            p.started(t)
            p.hello(hello, t)
            (session,) = p.sessions.values()
            assert session.resumed["diverged"] == diverged and session.resumed["refused_actions"] == 0
        (session,) = p.sessions.values()
        p.supervise(t)
        if 220 <= s < 240:
            continue
        spo2 = 85 if s >= 140 else 98
        recs = [numerics(0, t, HR=80, PR=80, SpO2=spo2, RR=14, EtCO2=38)]
        if s in (30, 60, 200):
            recs.append({"type": "nibp", "t": t + 0.5, "status": "ok", "sys": 121.0, "dia": 79.0,
                         "map": 93.0})
        for rec in recs:
            seq = p.last_seq[("mon-twin", "s")] + 1
            assert p.accept("mon-twin", parse({**rec, "seq": seq}), rec["t"] + 0.1)
        now = t + 0.3
        if s == 90:
            p.capture_baseline(session.id, now)
        elif s == 120:
            p.mark(session.id, "dose", "", "user-clinician", now)
        elif s == 130 and first_rules is None:
            p.change_rule(session.id, "O2", {"delay_s": 30}, "user-clinician", now, "noisy probe")
        elif s == 150:
            alarm = next(a for a in p.alarm_log.alarms(session.id, active_only=True) if a["rule"] == "O3")
            p.act(alarm["id"], "acknowledge", "user-nurse", now)
    (session,) = p.sessions.values()
    out = key([e for e in p.alarm_log.log(session.id) if e["rule"] != "T4"], t0)
    p.store.close()
    return out


def test_clinician_actions_replayed_as_they_happened(tmp_path: Path) -> None:
    """A session's baseline capture, clinician dose mark, rule change (O2's delay to 30 s),
    acknowledgement and a feed silence (whose device ticks pass) are replayed as they happened:
    restarted at +160 s (O2 pending its changed delay, O3 acknowledged) or at +300 s (after the
    silence), its replay agrees with the log and its alarm log is the one the same session gives
    without a restart."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "c").mkdir()
    straight = _drive(tmp_path / "a" / "v.sqlite3", None)
    restarted = _drive(tmp_path / "b" / "v.sqlite3", 160)
    assert restarted == straight
    assert _drive(tmp_path / "c" / "v.sqlite3", 300) == straight
    assert ("O2", "raised", "active", "medium", "", 170.0) in restarted
    assert [e[1] for e in restarted if e[0] == "O3"] == ["raised", "acknowledged", "reminder"]


def test_alarm_the_replay_finds_signalled_is_never_dropped(tmp_path: Path) -> None:
    """A replay that differs from the log (the rules file changed between the two runs: O2's
    delay 15 s instead of 500 s) and leaves an alarm signalled that the log does not have (O2,
    raised at +155 by the new rules, before the log's latest entry, O3's acknowledgement at +150
    being earlier and O1's raise at +170 later) logs it at start-up rather than drop it."""
    slow = load(rules_with(tmp_path / "rules.yaml", O2=500))
    # Two differences: the raise the log lacks, and the alarm it leaves signalled.
    log = _drive(tmp_path / "v.sqlite3", 175, first_rules=slow, diverged=2)
    assert ("O2", "raised", "active", "medium", "", 155.0) in log
    assert [e[0] for e in log].count("O2") == len({e for e in log if e[0] == "O2"})
