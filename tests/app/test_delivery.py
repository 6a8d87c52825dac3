"""Alarm delivery end to end: a real server with a roster and a channels file, the tests' own
HTTP channel (tests/app/delivery_launcher.py) and a real HTTP receiver."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from app.ack_link import AckLinks, load_key
from app.store import Store
from offline.export import export_session
from tests.app.delivery_helpers import ROOM, Receiver, delivery_rules, raise_h1, start
from tests.app.helpers import Dashboard
from tests.conftest import ROOT, SSL_CONTEXT, free_port, seconds, wait_for


def test_chain_reaches_each_step_in_turn_and_an_ack_link_acknowledges_once(
        tmp_path: Path, receiver: Receiver) -> None:
    """An alarm reaches the site at once and the primary at once, then, unacknowledged, the
    backup and the clinician after the rules' delays; the clinician's acknowledge link
    acknowledges it once (reuse, expiry and tampering refused), as the audit trail and /ws/live
    show; those told hear of the acknowledgement, the step after it is never told, and every
    notice is listed per recipient with its state."""
    backup_s, clinician_s = seconds(1.5), seconds(3)
    rules = delivery_rules(tmp_path / "rules.yaml", steps={
        "high": {"primary": 0, "backup": backup_s, "clinician": clinician_s, "everyone": 60},
        "medium": {"primary": 0, "backup": backup_s, "clinician": clinician_s, "everyone": 60},
        "low": {"primary": 0}})
    notify = [{"url": f"{receiver.url}/{u}", "to": u} for u in ("ann", "bob", "clara", "dan")]
    srv = start(tmp_path, rules, [*notify, {"url": f"{receiver.url}/site", "to": "site"}],
                rooms={ROOM: ("ann", "bob"), "Room 2": ("dan", None)})
    try:
        dash = Dashboard(srv)
        raise_h1(srv)
        raised = dash.wait(lambda m: m["type"] == "alarm" and m["event"] == "raised")
        alarm_id = raised["alarm"]["id"]
        t_raised = time.time()
        wait_for(lambda: receiver.of("ann") and receiver.of("site"), 5, what="primary and site")
        assert receiver.when("ann") - t_raised < seconds(1)
        assert receiver.of("bob") == []
        wait_for(lambda: receiver.of("clara"), 10, what="the clinician")
        assert receiver.when("bob") - receiver.when("ann") >= backup_s - 0.3
        assert receiver.when("clara") - receiver.when("ann") >= clinician_s - 0.3
        first = receiver.of("ann")[0]
        assert (first["event"], first["room"], first["step"], first["recipient"], first["rule"]) == (
            "raised", ROOM, "primary", "ann", "H1")
        assert receiver.of("site")[0]["ack_url"] is None and receiver.of("dan") == []

        url = receiver.of("clara")[0]["ack_url"]
        assert url.startswith(srv.http + "/ack/")
        token = url.rsplit("/", 1)[1]
        page = httpx.get(url, verify=SSL_CONTEXT, timeout=seconds(10))
        assert page.status_code == 200 and "Acknowledge" in page.text and ROOM in page.text
        tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
        assert httpx.post(f"{srv.http}/api/ack/{tampered}", verify=SSL_CONTEXT).status_code == 400
        acked = httpx.post(f"{srv.http}/api/ack/{token}", verify=SSL_CONTEXT, timeout=seconds(10))
        assert acked.status_code == 200, acked.text
        assert acked.json()["alarm"]["acknowledged_by"] == "clara (via notification)"
        again = httpx.post(f"{srv.http}/api/ack/{token}", verify=SSL_CONTEXT, timeout=seconds(10))
        assert again.status_code == 409 and "used" in again.json()["detail"]
        seen = dash.wait(lambda m: m["type"] == "alarm" and m["event"] == "acknowledged")
        assert seen["by"] == "clara (via notification)"
        audit = [e for e in srv.get("/api/audit", role="admin") if e["action"] == "alarm_acknowledge"]
        assert [(e["user"], e["target"]) for e in audit] == [("clara", f"alarm {alarm_id}")]

        # An expired link, genuinely signed with the server's key, is refused.
        store = Store(srv.data_dir / "vitalwatch.sqlite3")
        links = AckLinks(store.db, load_key(srv.data_dir))
        ann_delivery = receiver.of("ann")[0]["delivery_id"]
        old = links.make(ann_delivery, alarm_id, "ann", time.time() - 1)
        store.db.close()
        expired = httpx.post(f"{srv.http}/api/ack/{old}", verify=SSL_CONTEXT, timeout=seconds(10))
        assert expired.status_code == 410 and "expired" in expired.json()["detail"]

        wait_for(lambda: all(receiver.of(u, "acknowledged") for u in ("ann", "bob", "clara")), 5,
                 what="the acknowledgement told to those told")
        rows = srv.get(f"/api/alarms/{alarm_id}/deliveries")
        calls = [(r["step"], r["recipient"], r["state"]) for r in rows if r["event"] == "raised"]
        assert calls == [("site", "", "delivered"), ("primary", "ann", "delivered"),
                         ("backup", "bob", "delivered"), ("clinician", "clara", "acknowledged")]
        clara = next(r for r in rows if r["recipient"] == "clara" and r["event"] == "raised")
        assert clara["queued"] <= clara["sent"] <= clara["delivered"] <= clara["acknowledged"]
        assert clara["by"] == "clara" and clara["attempts"] == 1
        listed = srv.get(f"/api/sessions/{raised['session_id']}/deliveries")
        assert [r for r in listed if r["alarm_id"] == alarm_id] == rows
        assert not any(r["step"] == "everyone" for r in rows)
        out = tmp_path / "session.jsonl"  # the session export holds every notice too
        assert export_session(raised["session_id"], out, srv.data_dir, stdout=io.StringIO(),
                              stderr=io.StringIO()) == 0
        exported = [json.loads(line) for line in out.read_text().splitlines()[1:]]
        assert [(r["step"], r["recipient"], r["state"]) for r in exported if r["type"] == "delivery"
                and r["alarm_id"] == alarm_id and r["event"] == "raised"] == calls
    finally:
        srv.kill(signal.SIGTERM)


def test_a_receiver_that_is_down_raises_d1_and_d2_and_the_chain_moves_on(
        tmp_path: Path, receiver: Receiver) -> None:
    """The primary's receiver answers 503: after the rules' retries the delivery has failed,
    D1 and D2 are raised on the central feed within seconds, and the backup is told at once
    rather than after its 30 s; D1 clears once the backup has the alarm, D2 once the failed
    destination takes a notice again."""
    rules = delivery_rules(tmp_path / "rules.yaml", send_timeout_s=seconds(1), retries=1,
                           retry_backoff_s=0.2)
    receiver.down.add("ann")
    notify = [{"url": f"{receiver.url}/{u}", "to": u} for u in ("ann", "bob")]
    srv = start(tmp_path, rules, notify, rooms={ROOM: ("ann", "bob")})
    try:
        dash = Dashboard(srv)
        raise_h1(srv)
        t_raised = time.time()
        d1 = dash.wait(lambda m: m["type"] == "alarm" and m["alarm"]["rule"] == "D1", 5)
        dash.wait(lambda m: m["type"] == "alarm" and m["alarm"]["rule"] == "D2", 5)
        assert d1["event"] == "raised" and d1["room"] == ROOM
        wait_for(lambda: receiver.of("bob"), 5, what="the backup")
        assert receiver.when("bob") - t_raised < seconds(5)  # not its 30 s
        # Given to the backup, the alarm is delivered: D1 clears (D2 stays: ann is still down).
        dash.wait(lambda m: m["type"] == "alarm" and m["alarm"]["rule"] == "D1"
                  and m["event"] == "cleared", 5)
        h1 = next(a for a in srv.get("/api/alarms") if a["rule"] == "H1")
        rows = srv.get(f"/api/alarms/{h1['id']}/deliveries")
        ann = next(r for r in rows if r["recipient"] == "ann")
        assert (ann["state"], ann["attempts"], ann["detail"]) == ("failed", 2, "HTTP 503")
        bob = next(r for r in rows if r["recipient"] == "bob")
        assert (bob["step"], bob["state"]) == ("backup", "delivered")

        receiver.down.clear()  # the next notice to ann (D1's or D2's own, or a later one) passes
        srv.post(f"/api/alarms/{h1['id']}/acknowledge", role="nurse")
        dash.wait(lambda m: m["type"] == "alarm" and m["alarm"]["rule"] == "D2"
                  and m["event"] == "cleared", 10)
        health = srv.get("/api/health")
        assert health["delivery"]["channels_down"] == [] and health["delivery"]["failed"] >= 1
    finally:
        srv.kill(signal.SIGTERM)


def test_an_alarm_that_reaches_nobody_raises_d1(tmp_path: Path, receiver: Receiver) -> None:
    """With delivery set up but no shift covering the room, an alarm reaches nobody: D1, which
    a nurse acknowledges like any alarm."""
    rules = delivery_rules(tmp_path / "rules.yaml")
    srv = start(tmp_path, rules, [{"url": f"{receiver.url}/ann", "to": "ann"}], rooms=None)
    try:
        dash = Dashboard(srv)
        raise_h1(srv)
        d1 = dash.wait(lambda m: m["type"] == "alarm" and m["alarm"]["rule"] == "D1", 5)
        assert d1["event"] == "raised" and receiver.notices == []
        acked = srv.post(f"/api/alarms/{d1['alarm']['id']}/acknowledge", role="nurse")
        assert acked.status_code == 200 and acked.json()["state"] == "acknowledged"
    finally:
        srv.kill(signal.SIGTERM)


@pytest.mark.parametrize(("channels", "says"), [
    ({"notify": [{"url": "json://x", "to": ""}]}, "notify.0.to"),
    ({"webhooks": [{"url": "https://h.example/a", "secret_file": "missing.secret"}]}, "secret_file"),
    ({"pcd04": [{"host": "acm.example", "port": 70000}]}, "pcd04.0.port"),
])
def test_a_bad_channels_file_stops_the_server(tmp_path: Path, channels: dict, says: str) -> None:
    """A channels file with a wrong field stops ``vitalwatch serve`` with the field and why."""
    path = tmp_path / "channels.yaml"
    path.write_text(yaml.safe_dump(channels), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "app.cli", "serve", "--port", str(free_port()),
                           "--data-dir", str(tmp_path / "d"), "--channels", str(path)],
                          check=False, cwd=ROOT, capture_output=True, text=True,
                          timeout=seconds(30))
    assert done.returncode == 2 and "channels file" in done.stderr and says in done.stderr, done.stderr


def test_after_a_restart_the_chain_goes_on_where_it_stood(tmp_path: Path, receiver: Receiver) -> None:
    """A server killed after telling the primary, and started again, tells the backup at its
    time counted from the raise, and does not tell the primary again."""
    backup_s = seconds(4)
    rules = delivery_rules(tmp_path / "rules.yaml", steps={
        "high": {"primary": 0, "backup": backup_s}, "medium": {"primary": 0, "backup": backup_s},
        "low": {"primary": 0}})
    notify = [{"url": f"{receiver.url}/{u}", "to": u} for u in ("ann", "bob")]
    srv = start(tmp_path, rules, notify, rooms={ROOM: ("ann", "bob")})
    try:
        raise_h1(srv)
        wait_for(lambda: receiver.of("ann"), 5, what="the primary")
        t_ann = receiver.when("ann")
        srv.kill()
        srv.start()
        wait_for(lambda: [n for n in receiver.of("bob") if n["rule"] == "H1"], 10,
                 what="the backup after the restart")
        assert receiver.when("bob") - t_ann >= backup_s - 0.3
        assert [n["step"] for n in receiver.of("ann") if n["rule"] == "H1"] == ["primary"]
    finally:
        srv.kill(signal.SIGTERM)
