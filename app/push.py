"""The nurse view's phones: VAPID keys, push device registration, heartbeat and receipts.

Theory of operation. A nurse opens /nurse on a phone and taps "Enable alarms on this phone": the
page subscribes with the browser's push service (using ``GET /api/push/key``) and registers the
subscription here (``POST /api/push/devices``), receiving a device secret that its service
worker keeps; ``senders_for(user)`` then gives the delivery one ``PushSender`` per device.

A phone in a pocket is locked and its page frozen, so no page can say it is still there. A
device is "heard from" when its page beats (every 30 s while it runs) or its service worker
sends a receipt; one not heard from for a third of ``delivery.device_heartbeat_s`` is sent a
heartbeat push, which the service worker answers with a receipt (and shows as one quiet status
notification, since platforms insist every push show something). One not heard from for the
whole ``device_heartbeat_s`` has lapsed: ``lapsed(now)`` lists them for technical alarm D3 —
the nurse believes the phone will ring and it will not. A push service that answers "gone"
(the subscription expired or was withdrawn) makes the device gone: never sent to again, and
lapsed until the phone registers again.

Receipts (``POST /api/push/receipts``) come from a service worker, which has no login cookie:
they are authenticated by the device secret alone, and only ever speak for that device's user.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi import Path as PathParam
from py_vapid import Vapid
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alerts.delivery.push import PushSender
from alerts.delivery.wire import State, StatusReport
from alerts.rules import DeliveryPolicy
from app.accounts import Login, digest
from app.security import require
from app.storage import Database

log = logging.getLogger("vitalwatch.push")

SCHEMA = """
CREATE TABLE IF NOT EXISTS push_devices (
    id INTEGER PRIMARY KEY, user TEXT NOT NULL, label TEXT NOT NULL,
    subscription TEXT NOT NULL, endpoint TEXT NOT NULL UNIQUE, secret_hash TEXT NOT NULL UNIQUE,
    created REAL NOT NULL, last_heard REAL NOT NULL, pinged REAL, lapsed REAL, gone REAL,
    receipts INTEGER NOT NULL DEFAULT 0);
"""
KEY_FILE = "vapid-private.pem"
SECRET_PREFIX = "vwp_"
# The page's own beat while it runs (frontend/push.js), at most this far apart and always
# well inside a third of the heartbeat, so that an open page is never also sent pings; the
# server's heartbeat push covers a frozen page.
PAGE_BEAT_S = 30.0
MAX_DEVICES_PER_USER = 8


class PushError(ValueError):
    """A phone's registration is refused; the message says why."""


def page_beat_s(policy: DeliveryPolicy) -> float:
    return min(PAGE_BEAT_S, policy.device_heartbeat_s / 4)


class ReceiptSink(Protocol):
    """Where a phone's receipts go: the delivery service (app/delivery.py). A device secret
    proves only which phone speaks: ``report.by`` is that phone's user, and a report for a
    delivery that was not sent to ``by`` must be ignored (and counted), not applied."""

    def on_receipt(self, report: StatusReport) -> None: ...


# Keys --------------------------------------------------------------------------------------

def vapid_key(data_dir: Path) -> Vapid:
    """The server's VAPID key pair, made on first start and kept in the data dir (mode 0600: it
    signs for this server at every phone's push service)."""
    path = Path(data_dir) / KEY_FILE
    if not path.exists():
        vapid = Vapid()
        vapid.generate_keys()
        pem = vapid.private_pem()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
    os.chmod(path, 0o600)  # a key copied in by hand keeps no wider mode
    return Vapid.from_pem(path.read_bytes())


def public_key(vapid: Vapid) -> str:
    """The application server key as a browser's ``pushManager.subscribe`` takes it."""
    raw = vapid.public_key.public_bytes(serialization.Encoding.X962,
                                        serialization.PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64url(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


# Wire --------------------------------------------------------------------------------------

class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubscriptionKeys(_Model):
    p256dh: str = Field(max_length=200)
    auth: str = Field(max_length=100)

    @field_validator("p256dh")
    @classmethod
    def _point(cls, v: str) -> str:
        try:
            raw = _b64url(v)
        except (binascii.Error, ValueError):
            raise ValueError("not base64url") from None
        if len(raw) != 65 or raw[0] != 4:
            raise ValueError("not an uncompressed P-256 public key (65 bytes)")
        return v

    @field_validator("auth")
    @classmethod
    def _auth(cls, v: str) -> str:
        try:
            raw = _b64url(v)
        except (binascii.Error, ValueError):
            raise ValueError("not base64url") from None
        if len(raw) != 16:
            raise ValueError("the auth secret is 16 bytes")
        return v


class Subscription(_Model):
    """A browser's ``PushSubscription.toJSON()``."""

    endpoint: str = Field(max_length=2000)
    expirationTime: float | None = None  # the browser's spelling
    keys: SubscriptionKeys

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        parts = urlsplit(v)
        # Push services are HTTPS; plain HTTP only to this machine (a push service stood in
        # for on a test bench), so that a registration cannot aim the server anywhere else
        # in clear text.
        if parts.scheme == "https" and parts.hostname:
            return v
        if parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1"):
            return v
        raise ValueError("a push service endpoint is an https:// URL")


class Registration(_Model):
    subscription: Subscription
    label: str = Field(min_length=1, max_length=64, description="which phone, as the nurse names it")


class Receipt(_Model):
    """From a service worker: a notice was shown (``delivered``) or opened (``seen``), or a
    heartbeat push arrived (``heartbeat``, no delivery)."""

    state: Literal["delivered", "seen", "heartbeat"]
    delivery_id: int | None = Field(default=None, ge=1, le=2**53)

    @model_validator(mode="after")
    def _needs_delivery(self) -> Receipt:
        if self.state != "heartbeat" and self.delivery_id is None:
            raise ValueError(f"delivery_id: required for a {self.state} receipt")
        return self


# Devices -----------------------------------------------------------------------------------

class Devices:
    """The ``push_devices`` table and what the delivery asks of it. Every time is an argument."""

    def __init__(self, db: Database, vapid: Vapid, subject: str, policy: DeliveryPolicy,
                 sink: ReceiptSink | None = None) -> None:
        self.db, self.vapid, self.subject, self.policy, self.sink = db, vapid, subject, policy, sink
        self._pem = vapid.private_pem().decode()
        self.key = public_key(vapid)
        self.receipts = 0
        self.receipts_unrouted = 0  # receipts that arrived while no delivery service listened
        db.create_tables(SCHEMA)

    def counts(self, now: float) -> dict[str, int]:
        """For the health report: phones registered, lapsed (D3), and receipts taken/unrouted."""
        row = self.db.execute("SELECT COUNT(*) AS n FROM push_devices").fetchone()
        return {"devices": int(row["n"]), "lapsed": len(self.lapsed(now)), "receipts": self.receipts,
                "receipts_unrouted": self.receipts_unrouted}

    def register(self, user: str, reg: Registration, now: float) -> tuple[int, str]:
        """Register (or re-register, by endpoint) a subscription for ``user``; returns the
        device id and its new secret (shown once: only its digest is kept)."""
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        sub = reg.subscription.model_dump_json(exclude_none=True)
        row = self.db.execute("SELECT id FROM push_devices WHERE endpoint=?",
                              (reg.subscription.endpoint,)).fetchone()
        if row is not None:
            self.db.execute(
                "UPDATE push_devices SET user=?, label=?, subscription=?, secret_hash=?,"
                " last_heard=?, pinged=NULL, lapsed=NULL, gone=NULL WHERE id=?",
                (user, reg.label, sub, digest(secret), now, row["id"]))
            return int(row["id"]), secret
        count = self.db.execute("SELECT COUNT(*) AS n FROM push_devices WHERE user=?", (user,)).fetchone()
        if count["n"] >= MAX_DEVICES_PER_USER:
            raise PushError(f"at most {MAX_DEVICES_PER_USER} phones per user: turn one off first")
        cur = self.db.execute(
            "INSERT INTO push_devices(user, label, subscription, endpoint, secret_hash, created,"
            " last_heard) VALUES (?,?,?,?,?,?,?)",
            (user, reg.label, sub, reg.subscription.endpoint, digest(secret), now, now))
        return int(cur.lastrowid or 0), secret

    def remove(self, user: str, device: int) -> bool:
        return self.db.execute("DELETE FROM push_devices WHERE id=? AND user=?",
                               (device, user)).rowcount > 0

    def of(self, user: str) -> list[dict[str, Any]]:
        """The user's devices, as the nurse view shows them (no subscription, no secret)."""
        return self.db.execute(
            "SELECT id, label, created, last_heard, lapsed, gone, receipts FROM push_devices WHERE user=?"
            " ORDER BY id", (user,)).fetchall()

    def heard(self, device: int, now: float, user: str | None = None) -> bool:
        """``device`` (of ``user``, when given) was heard from: it is no longer lapsed."""
        # CASE rather than SQLite's two-argument MAX, which PostgreSQL spells GREATEST.
        q = ("UPDATE push_devices SET last_heard=CASE WHEN last_heard > ? THEN last_heard ELSE ? END,"
             " lapsed=NULL WHERE id=? AND gone IS NULL")
        args: tuple[Any, ...] = (now, now, device)
        if user is not None:
            q, args = q + " AND user=?", (*args, user)
        return self.db.execute(q, args).rowcount > 0

    def by_secret(self, secret: str) -> dict[str, Any] | None:
        return self.db.execute("SELECT id, user, label, gone FROM push_devices WHERE secret_hash=?",
                               (digest(secret),)).fetchone()

    def gone(self, device: int, now: float) -> None:
        """The push service said the subscription no longer exists: never send to it again."""
        self.db.execute("UPDATE push_devices SET gone=? WHERE id=? AND gone IS NULL", (now, device))

    def _sender(self, row: dict[str, Any]) -> PushSender:
        return PushSender(json.loads(row["subscription"]), self._pem, self.subject,
                          self.policy.send_timeout_s, f"{row['user']} #{row['id']} ({row['label']})",
                          self.policy.push_ttl_s, device=int(row["id"]))

    def senders_for(self, user: str) -> list[PushSender]:
        """One sender per phone of ``user`` that its push service has not disowned (a lapsed
        one too: it may yet ring, and D3 already says it may not)."""
        rows = self.db.execute("SELECT * FROM push_devices WHERE user=? AND gone IS NULL ORDER BY id",
                               (user,)).fetchall()
        return [self._sender(r) for r in rows]

    def lapsed(self, now: float) -> list[tuple[str, str]]:
        """(user, device label) of every device not heard from for ``device_heartbeat_s``,
        gone ones included: each is a phone a nurse may be counting on in vain (D3)."""
        rows = self.db.execute(
            "SELECT user, label FROM push_devices WHERE last_heard <= ? OR gone IS NOT NULL"
            " ORDER BY user, id", (now - self.policy.device_heartbeat_s,)).fetchall()
        return [(r["user"], r["label"]) for r in rows]

    def due(self, now: float) -> list[tuple[str, PushSender]]:
        """Devices to send a heartbeat push: not heard from, nor pinged, for a third of the
        heartbeat (so a phone that answers is never lapsed), each with its user."""
        every = self.policy.device_heartbeat_s / 3
        rows = self.db.execute(
            "SELECT * FROM push_devices WHERE gone IS NULL AND last_heard <= ?"
            " AND (pinged IS NULL OR pinged <= ?)", (now - every, now - every)).fetchall()
        return [(r["user"], self._sender(r)) for r in rows]

    def pinged(self, device: int, now: float) -> None:
        self.db.execute("UPDATE push_devices SET pinged=? WHERE id=?", (now, device))

    def mark_lapsed(self, now: float) -> list[dict[str, Any]]:
        """Note the time each newly lapsed device lapsed; returns those."""
        rows = self.db.execute(
            "SELECT id, user, label FROM push_devices WHERE lapsed IS NULL AND gone IS NULL"
            " AND last_heard <= ?", (now - self.policy.device_heartbeat_s,)).fetchall()
        for r in rows:
            self.db.execute("UPDATE push_devices SET lapsed=? WHERE id=?", (now, r["id"]))
        return rows

    def receipt(self, device: dict[str, Any], receipt: Receipt, now: float) -> None:
        self.heard(int(device["id"]), now)
        self.db.execute("UPDATE push_devices SET receipts = receipts + 1 WHERE id=?", (device["id"],))
        self.receipts += 1
        if receipt.delivery_id is None:
            return
        report = StatusReport(delivery_id=receipt.delivery_id, state=State(receipt.state),
                              t_server=now, by=device["user"],
                              detail=f"push device #{device['id']} ({device['label']})")
        if self.sink is None:
            self.receipts_unrouted += 1
            log.warning("push receipt for delivery %s with no delivery service to take it",
                        receipt.delivery_id)
            return
        self.sink.on_receipt(report)


async def keep_alive(devices: Devices, rooms_of: Callable[[str, float], int],
                     every_s: float = 1.0) -> None:
    """The heartbeat: push to each device the server has not heard from lately, and note those
    that lapse. Runs from the app's lifespan until cancelled."""
    while True:
        now = time.time()
        try:
            for row in devices.mark_lapsed(now):
                # Device numbers only: logs carry no names (docs/security.md).
                log.warning("push device #%s lapsed: not heard from for %g s", row["id"],
                            devices.policy.device_heartbeat_s)
            due = devices.due(now)
            for _, sender in due:
                devices.pinged(sender.device or 0, now)
            await asyncio.gather(*(_ping(devices, user, s, rooms_of, now) for user, s in due))
        except Exception:  # the heartbeat must outlive any one bad device
            log.exception("push heartbeat failed")
        await asyncio.sleep(every_s)


async def _ping(devices: Devices, user: str, sender: PushSender,
                rooms_of: Callable[[str, float], int], now: float) -> None:
    ttl = int(devices.policy.device_heartbeat_s / 3)
    try:
        # High urgency, as the alarms: a ping that only arrives when the phone next wakes by
        # itself would prove nothing about an alarm that must wake it.
        outcome = await sender.push({"type": "heartbeat", "rooms": rooms_of(user, now), "t": now},
                                    ttl_s=ttl, urgency="high", topic="heartbeat")
    finally:
        await sender.close()
    if outcome.gone and sender.device is not None:
        devices.gone(sender.device, time.time())
        log.warning("push device #%s gone: %s", sender.device, outcome.detail)
    elif outcome.state is State.failed:
        log.warning("heartbeat push to device #%s failed: %s", sender.device, outcome.detail)


# Routes ------------------------------------------------------------------------------------

router = APIRouter(prefix="/api/push")
ViewLive = Annotated[Login, Depends(require("view_live"))]
DeviceId = Annotated[int, PathParam(ge=1, le=2**53)]


def _devices(request: Request) -> Devices:
    return request.app.state.push


DevicesDep = Annotated[Devices, Depends(_devices)]


@router.get("/key")
async def key(devices: DevicesDep, who: ViewLive) -> dict[str, Any]:
    """The application server key for ``pushManager.subscribe``, and the page's beat."""
    return {"key": devices.key, "heartbeat_s": page_beat_s(devices.policy)}


@router.get("/devices")
async def list_devices(devices: DevicesDep, who: ViewLive) -> list[dict[str, Any]]:
    now = time.time()
    out = devices.of(who.user.name)
    for d in out:
        d["state"] = "gone" if d["gone"] else (
            "lapsed" if d["last_heard"] <= now - devices.policy.device_heartbeat_s else "on")
    return out


@router.post("/devices", status_code=201)
async def register(body: Registration, devices: DevicesDep, who: ViewLive) -> dict[str, Any]:
    """Register this browser's push subscription for the logged-in user. The answer's
    ``secret`` authenticates the service worker's receipts and is never shown again."""
    try:
        device, secret = devices.register(who.user.name, body, time.time())
    except PushError as e:
        raise HTTPException(409, str(e)) from None
    return {"id": device, "secret": secret, "heartbeat_s": page_beat_s(devices.policy)}


@router.delete("/devices/{device_id}")
async def unregister(device_id: DeviceId, devices: DevicesDep, who: ViewLive) -> dict[str, Any]:
    if not devices.remove(who.user.name, device_id):
        raise HTTPException(404, f"no push device {device_id} of yours")
    return {"removed": device_id}


@router.post("/devices/{device_id}/heartbeat")
async def heartbeat(device_id: DeviceId, devices: DevicesDep, who: ViewLive) -> dict[str, Any]:
    """The open page's beat: this device is still there."""
    if not devices.heard(device_id, time.time(), user=who.user.name):
        raise HTTPException(404, f"no push device {device_id} of yours (removed, or gone: enable alarms again)")
    return {"id": device_id, "heard": True}


@router.post("/receipts", status_code=202)
async def receipts(body: Receipt, request: Request, devices: DevicesDep) -> dict[str, Any]:
    """A service worker's receipt, authenticated by its device secret (``Authorization:
    Bearer vwp_…``): a service worker has no login cookie and no CSRF token, and this route
    changes nothing but that device's own state."""
    auth = request.headers.get("authorization", "")
    scheme, _, secret = auth.partition(" ")
    if scheme.lower() != "bearer" or not secret.startswith(SECRET_PREFIX):
        raise HTTPException(401, "a push device secret is required (Authorization: Bearer)")
    device = devices.by_secret(secret.strip())
    if device is None:
        raise HTTPException(401, "unknown push device secret")
    if device["gone"]:
        raise HTTPException(410, "this push device is gone: enable alarms on the phone again")
    devices.receipt(device, body, time.time())
    return {"accepted": True}
