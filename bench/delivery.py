"""Alarm delivery: from the server's alarm decision to each channel's receiver, and what is lost
when a receiver dies mid-run.

This script

1. provisions a fresh data dir as an administrator would: a device token per monitor, a
   supervising clinician and one nurse per 8 rooms (each the next one's backup), and a shift
   covering every room now;
2. starts a receiver per channel, each a process of its own on a free port, standing in for
   what a clinic would run: an HTTP server for the signed webhook (every alarm of the site), one
   for ntfy (each nurse's topic, through apprise), an SMTP server (``aiosmtpd``: each nurse's
   e-mail, through apprise) and an MLLP listener for the alarm communication manager (HL7 PCD-04
   ORU^R40, answered with a commit ACK). Each writes one JSON line per message received, with
   its own clock's time;
3. starts ``vitalwatch serve --channels`` pointing at them, and ``--rooms`` monitors (one process)
   streaming numerics once a second, whose SpO2 falls to 82 % for 20 s in every minute (each room
   at its own phase): O3 (high) and O2 (medium) are raised and cleared in every room every
   minute, so the server decides about two alarm changes a second per 32 rooms;
4. ``--kill`` one receiver at a third of the run and starts it again ``--down`` seconds later on
   the same port (SIGKILL: what a crashed receiver looks like);
5. after ``--seconds`` and a drain for the retries, reads the server's delivery log
   (``/api/sessions/{id}/deliveries``) and joins it with what each receiver got, by delivery id
   (the webhook's ``webhook-id``; for ntfy and e-mail the delivery id inside the acknowledge
   link; for PCD-04 OBR-2, the placer order number, which carries it).

Reported per channel: deliveries made, received, p50/p99 of decision → receiver (the alarm change for the
site and the primary nurse; the escalation step falling due for the backup and later), and
**lost: never received** (goal: none), split into those the server reported failed (and raised
D1/D2 for) and silent ones (neither received nor reported: the worst kind). Exit status 1 if
anything is lost, or a receiver that was not killed has a p99 above ``--p99-ms``. A longer
``--down`` than the retries cover (rules ``delivery``: 3 retries, 2-4-8 s), or ``--no-retries``
(the server run with a rules copy whose ``retries`` is 0), makes the kill cost deliveries: the
benchmark then fails, with the losses reported, not silent.

    .venv/bin/python bench/delivery.py                               # 64 rooms, 60 s, webhook killed for 5 s
    .venv/bin/python bench/delivery.py --kill ntfy --down 20
    .venv/bin/python bench/delivery.py --no-retries                  # exits 1
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import yaml

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from latency import free_port, pct  # noqa: E402 - after the sys.path change above

ROOMS_PER_NURSE = 8
ADMIN, PASSWORD = "bench-admin", "bench-password-not-secret"
CLINICIAN = "bench-clinician"
RECEIVERS = ("webhook", "ntfy", "smtp", "pcd04")
PROVISION = r"""
import json, sys, time
from pathlib import Path
from app.accounts import Accounts
from app.roster import Roster
from app.store import Store
data, password, rooms, nurses, clinician = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
store = Store(data / "vitalwatch.sqlite3")
accounts = Accounts(store.db)
now = time.time()
accounts.add_user("bench-admin", "admin", password, now)
accounts.add_user(clinician, "clinician", password, now)
names = [f"bench-nurse-{k}" for k in range(nurses)]
for name in names:
    accounts.add_user(name, "nurse", password, now)
cover = {f"Bench {i:03d}": (names[i // 8], names[(i // 8 + 1) % nurses] if nurses > 1 else None)
         for i in range(rooms)}
Roster(store.db).add_shift("bench", now - 3600, now + 6 * 3600, clinician, cover, "bench-admin", now)
print(json.dumps([accounts.add_device(f"bench-{i:03d}", now, any_room=True) for i in range(rooms)]))
store.db.close()
"""


def room(i: int) -> str:
    return f"Bench {i:03d}"


# Receivers (each `delivery.py --receiver KIND`, a process of its own) ----------------------------


def _record(out: Any, **fields: Any) -> None:
    out.write(json.dumps({"t": time.time(), **fields}) + "\n")
    out.flush()


def _link_delivery(text: str) -> int | None:
    """The delivery id inside an acknowledge link (app/ack_link.py: its payload is readable)."""
    start = text.find("/ack/")
    if start < 0:
        return None
    token = text[start + 5:].split()[0].split(".")[0]
    with contextlib.suppress(ValueError, KeyError):
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return int(payload["d"])
    return None


def receive_http(port: int, out: Any, kind: str) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            text = body.decode(errors="replace")
            if kind == "webhook":
                delivery = int(self.headers.get("webhook-id") or 0) or None
            else:  # ntfy: apprise posts the message as JSON, or as the body
                with contextlib.suppress(ValueError):
                    parsed = json.loads(text)
                    text = " ".join(str(parsed.get(k, "")) for k in ("title", "message"))
                delivery = _link_delivery(text)
            _record(out, delivery=delivery, path=self.path)
            reply = b'{"id":"bench"}'
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: Any) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def receive_smtp(port: int, out: Any) -> None:
    from email import message_from_bytes, policy

    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            msg = message_from_bytes(envelope.content, policy=policy.default)
            body = msg.get_body(("plain", "html"))
            _record(out, delivery=_link_delivery(body.get_content() if body else ""),
                    to=list(envelope.rcpt_tos))
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    controller.stop()


def receive_mllp(port: int, out: Any) -> None:
    import hl7
    from hl7.mllp import start_hl7_server

    async def handle(reader: Any, writer: Any) -> None:
        with contextlib.suppress(Exception):
            while not writer.is_closing():
                message = await reader.readmessage()
                # OBR-2, the placer number, is the delivery id (alerts/delivery/pcd04.py).
                _record(out, delivery=int(str(message.segment("OBR")[2]).split("^")[0]))
                writer.writemessage(message.create_ack(ack_code="AA"))
                await writer.drain()

    async def main() -> None:
        async with await start_hl7_server(handle, host="127.0.0.1", port=port) as server:
            await server.serve_forever()

    del hl7
    asyncio.run(main())


def receiver_main(kind: str, port: int, path: Path) -> None:
    with open(path, "a") as out:
        if kind in ("webhook", "ntfy"):
            receive_http(port, out, kind)
        elif kind == "smtp":
            receive_smtp(port, out)
        else:
            receive_mllp(port, out)


class Receiver:
    def __init__(self, kind: str, workdir: Path) -> None:
        self.kind, self.port = kind, free_port()
        self.log = workdir / f"received-{kind}.jsonl"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, "--receiver", self.kind, "--port",
                                      str(self.port), "--out", str(self.log)], cwd=ROOT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                import socket
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            time.sleep(0.05)
        raise RuntimeError(f"the {self.kind} receiver did not start")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def received(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]


# The monitors ----------------------------------------------------------------------------------


async def monitors_main(url: str, tokens: list[str], seconds: float, cycle_s: float) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    res: dict[str, Any] = {"sent": 0, "acked": 0, "errors": []}

    async def one(i: int) -> None:
        try:
            async with connect(url + "/ws/ingest", additional_headers={
                    "Authorization": f"Bearer {tokens[i]}"}, open_timeout=10) as ws:
                await ws.send(json.dumps({
                    "type": "hello", "seq": 0, "protocol": 1, "monitor_id": f"bench-{i:03d}",
                    "stream": uuid.uuid4().hex, "room": room(i), "mode": "test",
                    "vendor": "vitalwatch", "model": "bench/delivery"}))
                await ws.recv()

                async def acks() -> None:
                    async for frame in ws:
                        reply = json.loads(frame)
                        if reply.get("type") == "ack":
                            res["acked"] += 1
                        else:
                            res["errors"].append(reply)

                reader = asyncio.create_task(acks())
                start = time.time()
                phase = cycle_s * i / len(tokens)
                seq = 0
                while (now := time.time()) < start + seconds:
                    low = ((now - start + phase) % cycle_s) < cycle_s / 3
                    seq += 1
                    await ws.send(json.dumps({"type": "numerics", "seq": seq, "t": now, "values": {
                        "HR": {"value": 72, "unit": "/min"}, "PR": {"value": 72, "unit": "/min"},
                        "SpO2": {"value": 82 if low else 98, "unit": "%"},
                        "RR": {"value": 14, "unit": "/min"}}}))
                    res["sent"] += 1
                    await asyncio.sleep(1.0 - (time.time() - now))
                await asyncio.sleep(2)
                reader.cancel()
        except Exception as e:  # noqa: BLE001 - reported: the run says what failed
            res["errors"].append(f"monitor {i} at {time.time():.1f}: {type(e).__name__}: {e}")

    await asyncio.gather(*(one(i) for i in range(len(tokens))))
    return res


# One run ---------------------------------------------------------------------------------------


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    data = workdir / "data"
    data.mkdir(parents=True)
    nurses = max(1, -(-args.rooms // ROOMS_PER_NURSE))
    r = subprocess.run([sys.executable, "-c", PROVISION, str(data), PASSWORD, str(args.rooms),
                        str(nurses), CLINICIAN], cwd=ROOT, capture_output=True, text=True, check=True)
    tokens = json.loads(r.stdout)
    receivers = {kind: Receiver(kind, workdir) for kind in RECEIVERS}
    for rec in receivers.values():
        rec.start()
    secret = workdir / "webhook.secret"
    secret.write_text("bench-webhook-secret-not-secret\n")
    names = [f"bench-nurse-{k}" for k in range(nurses)]
    channels = {
        "webhooks": [{"url": f"http://127.0.0.1:{receivers['webhook'].port}/alarms", "secret_file": str(secret)}],
        "notify": [{"url": f"ntfy://127.0.0.1:{receivers['ntfy'].port}/{n}", "to": n} for n in names]
        + [{"url": f"mailto://127.0.0.1:{receivers['smtp'].port}?mode=insecure&from=vw@bench.example"
                   f"&to={n}@bench.example", "to": n} for n in names],
        "pcd04": [{"host": "127.0.0.1", "port": receivers["pcd04"].port}],
    }
    (workdir / "channels.yaml").write_text(yaml.safe_dump(channels))
    serve = [sys.executable, "-m", "app.cli", "serve", "--port", str(port := free_port()), "--data-dir",
             str(data), "--channels", str(workdir / "channels.yaml")]
    if args.no_retries:
        rules = yaml.safe_load((ROOT / "alerts" / "default-rules.yaml").read_text())
        rules["delivery"]["retries"] = 0
        (workdir / "rules.yaml").write_text(yaml.safe_dump(rules))
        serve += ["--rules", str(workdir / "rules.yaml")]
    with open(workdir / "server.log", "ab") as log:
        server = subprocess.Popen(serve, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    http = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                raise RuntimeError("the server exited:\n" + (workdir / "server.log").read_text())
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(http + "/api/health", timeout=1).status_code in (200, 401):
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.1)
        login = httpx.post(http + "/api/login", json={"name": CLINICIAN, "password": PASSWORD}, timeout=30)
        login.raise_for_status()
        cookies = {"vw_session": login.cookies["vw_session"], "vw_csrf": login.cookies["vw_csrf"]}
        killed = receivers.get(args.kill)

        async def drive() -> dict[str, Any]:
            load = asyncio.create_task(monitors_main(http.replace("http", "ws"), tokens, args.seconds, 60.0))
            if killed is not None:
                await asyncio.sleep(args.seconds / 3)
                killed.kill()
                print(f"killed the {killed.kind} receiver; restarting in {args.down:g} s", file=sys.stderr)
                await asyncio.sleep(args.down)
                await asyncio.to_thread(killed.start)
            return await load

        load = asyncio.run(drive())
        time.sleep(args.drain)
        deliveries: list[dict[str, Any]] = []
        with httpx.Client(base_url=http, cookies=cookies, timeout=60) as client:
            for session in client.get("/api/sessions").json():
                # Each notice tells of one alarm-log entry, which holds when the server decided it.
                decided = {e["id"]: e["decided"] for e in
                           client.get(f"/api/sessions/{session['id']}/alarm-log").json()}
                deliveries += [{**d, "decided": decided[d["log_id"]]}
                               for d in client.get(f"/api/sessions/{session['id']}/deliveries").json()]
    finally:
        server.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=20)
        if server.poll() is None:
            server.kill()
        for rec in receivers.values():
            rec.kill()
    return {"load": load, "deliveries": deliveries,
            "received": {kind: rec.received() for kind, rec in receivers.items()}}


def channel_of(delivery: dict[str, Any]) -> str:
    dest = delivery["destination"]
    if delivery["channel"] == "notify":
        return "smtp" if " mailto" in dest else "ntfy"
    return str(delivery["channel"])


def summarise(result: dict[str, Any], args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[str]]:
    rows, problems = [], []
    for kind in RECEIVERS:
        made = [d for d in result["deliveries"] if channel_of(d) == kind]
        got = result["received"][kind]
        first: dict[int, float] = {}
        for g in got:
            if g.get("delivery") is not None:
                first.setdefault(g["delivery"], g["t"])
        timed = [d for d in made if d["id"] in first]
        if kind in ("ntfy", "smtp"):  # only notices that carry an acknowledge link can be told apart
            made = [d for d in made if d["event"] in ("raised", "escalated", "reminder")]
        lost = [d for d in made if d["id"] not in first]
        silent = [d for d in lost if d["state"] != "failed"]
        ms = [(first[d["id"]] - (d["decided"] if d["step"] in ("site", "primary") else d["queued"])) * 1000
              for d in timed]
        row = {"channel": kind, "made": len(made), "received": len(timed), "lost": len(lost),
               "silent": len(silent), "p50_ms": pct(ms, 50), "p99_ms": pct(ms, 99)}
        rows.append(row)
        if lost:
            problems.append(f"{kind}: {len(lost)} deliveries never received ({len(silent)} of them not "
                            f"reported failed), e.g. {lost[0]}")
        if not made:
            problems.append(f"{kind}: no delivery was made")
        if row["p99_ms"] is not None and kind != args.kill and row["p99_ms"] > args.p99_ms:
            problems.append(f"{kind}: p99 {row['p99_ms']:.0f} ms above {args.p99_ms:g} ms")
    return rows, problems


def markdown(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    def ms(v: float | None) -> str:
        return "—" if v is None else f"{v:.1f} ms"

    out = [f"{args.rooms} rooms, {args.seconds:g} s; the {args.kill} receiver killed for {args.down:g} s"
           if args.kill else f"{args.rooms} rooms, {args.seconds:g} s", "",
           "| channel | deliveries | received | p50 | p99 | lost | of them silent |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['channel']} | {r['made']} | {r['received']} | {ms(r['p50_ms'])} | {ms(r['p99_ms'])} "
                   f"| {r['lost']} | {r['silent']} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Alarm delivery latency per channel, and loss when a receiver dies.")
    p.add_argument("--rooms", type=int, default=64, help="simulated monitors, one room each (default 64)")
    p.add_argument("--seconds", type=float, default=60, help="how long the monitors stream (default 60)")
    p.add_argument("--drain", type=float, default=30,
                   help="seconds after the monitors stop for retries to finish (default 30)")
    p.add_argument("--kill", choices=(*RECEIVERS, "none"), default="webhook",
                   help="the receiver SIGKILLed at a third of the run and restarted (default webhook)")
    p.add_argument("--down", type=float, default=5, help="seconds the killed receiver stays down (default 5)")
    p.add_argument("--p99-ms", type=float, default=2000,
                   help="fail if a receiver that was not killed has a p99 above this (default 2000)")
    p.add_argument("--no-retries", action="store_true",
                   help="run the server with no delivery retries: a killed receiver then costs deliveries")
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("--keep", type=Path, metavar="DIR",
                   help="work in DIR and keep it: the server's log, the receivers' logs, the data dir")
    p.add_argument("--receiver", choices=RECEIVERS, help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.receiver:
        receiver_main(args.receiver, args.port, args.out)
        return 0
    if args.kill == "none":
        args.kill = None
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=False)
        result = run(args, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="vw-delivery-") as tmp:
            result = run(args, Path(tmp))
    rows, problems = summarise(result, args)
    print(markdown(rows, args))
    if result["load"]["errors"]:
        problems.append(f"monitors: {result['load']['errors'][:3]}")
    for problem in problems:
        print(f"MISSED: {problem}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "problems": problems, "load": {
            k: v for k, v in result["load"].items() if k != "errors"}}, indent=2))
    return 1 if problems else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
