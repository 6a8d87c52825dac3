"""Acknowledge links: the single-use, short-lived, signed token in a notification's ``ack_url``.

The token is the authority (a nurse acknowledging from a locked phone has no login there), so it
is bound to one delivery, its alarm and its recipient, expires after the rules'
``delivery.ack_link_ttl_s``, and works once: its delivery id is written to ``ack_links_used``
when it is spent. It is signed with HMAC-SHA256 under a key made on first start and kept in the
data dir (``ack-link.key``, readable by the server's user only), so a link survives a restart
and cannot be forged or altered without the key.

    token = base64url(json {d: delivery id, a: alarm id, u: user, e: expiry}) "." base64url(mac)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from app.storage import Database, IntegrityError

SCHEMA = """
CREATE TABLE IF NOT EXISTS ack_links_used (
    delivery_id INTEGER PRIMARY KEY, used REAL NOT NULL, by TEXT NOT NULL);
"""
KEY_FILE = "ack-link.key"


class LinkError(ValueError):
    """A link that does not acknowledge: ``status`` is the HTTP status that says why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Link:
    delivery_id: int
    alarm_id: int
    user: str
    expires: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_key(data_dir: Path) -> bytes:
    path = Path(data_dir) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


class AckLinks:
    def __init__(self, db: Database, key: bytes) -> None:
        self.db, self._key = db, key
        db.create_tables(SCHEMA)

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def make(self, delivery_id: int, alarm_id: int, user: str, expires: float) -> str:
        payload = _b64(json.dumps({"d": delivery_id, "a": alarm_id, "u": user, "e": expires},
                                  separators=(",", ":")).encode())
        return f"{payload}.{self._mac(payload)}"

    def read(self, token: str, now: float) -> Link:
        """The link a token stands for, if it is genuine, unexpired and unused; else LinkError
        (400 altered or forged, 410 expired, 409 already used)."""
        payload, _, mac = token.partition(".")
        if not payload or not hmac.compare_digest(mac.encode(), self._mac(payload).encode()):
            raise LinkError(400, "this acknowledge link is not genuine (altered or not from this server)")
        try:
            data = json.loads(_unb64(payload))
            link = Link(int(data["d"]), int(data["a"]), str(data["u"]), float(data["e"]))
        except (ValueError, KeyError, TypeError):
            raise LinkError(400, "this acknowledge link is malformed") from None
        if now >= link.expires:
            raise LinkError(410, "this acknowledge link has expired: acknowledge on a dashboard")
        if self.db.execute("SELECT 1 FROM ack_links_used WHERE delivery_id=?",
                           (link.delivery_id,)).fetchone():
            raise LinkError(409, "this acknowledge link has been used already")
        return link

    def spend(self, link: Link, now: float) -> None:
        """Mark ``link`` used; LinkError 409 if it already was (two taps at once)."""
        try:
            self.db.execute("INSERT INTO ack_links_used(delivery_id, used, by) VALUES (?,?,?)",
                            (link.delivery_id, now, link.user))
        except IntegrityError:
            raise LinkError(409, "this acknowledge link has been used already") from None
