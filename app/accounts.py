"""Users, roles, login sessions and device tokens.

Passwords are hashed with argon2. Login-session and device tokens are random 256-bit secrets
stored only as SHA-256 digests: they are not guessable, so a slow hash adds nothing, and a stolen
database does not hand out working tokens.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app import sites
from app.sites import NO_SITE, SiteError, Visible
from app.storage import Database, IntegrityError, OperationalError

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, password TEXT NOT NULL,
    demo INTEGER NOT NULL DEFAULT 0, disabled INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS logins (
    token_hash TEXT PRIMARY KEY, user TEXT NOT NULL, csrf TEXT NOT NULL,
    created REAL NOT NULL, last_seen REAL NOT NULL);
CREATE TABLE IF NOT EXISTS devices (
    name TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, created REAL NOT NULL,
    revoked REAL, demo INTEGER NOT NULL DEFAULT 0,
    rooms TEXT NOT NULL DEFAULT '[]', any_room INTEGER NOT NULL DEFAULT 0,
    site TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS user_sites (
    name TEXT NOT NULL, site TEXT NOT NULL, PRIMARY KEY (name, site));
"""
# A device's ``site`` '' is "the default site", whatever the server's ``default_site`` says when it
# is read: a clinic that names its default site later keeps its devices (app/sites.py).
# A room name as a monitor's hello carries it (monitors/protocol.py: Hello.room).
MAX_ROOM = 64
MAX_ROOMS = 32

# What each role may do. A route names the permission it needs; nothing is allowed by default.
ROLES: dict[str, frozenset[str]] = {
    "clinician": frozenset({
        "view_live", "view_history", "view_monitors", "acknowledge", "pause_audio", "mark_event",
        "change_limits", "manage_sessions", "view_roster", "manage_roster"}),
    "nurse": frozenset({"view_live", "view_history", "view_monitors", "acknowledge", "pause_audio",
                        "view_roster"}),
    "reviewer": frozenset({"view_history"}),
    "admin": frozenset({"view_monitors", "manage_users", "manage_devices", "view_audit",
                        "view_roster", "manage_roster"}),
    # A wall-mounted central station: sees the live view, has no controls, never times out.
    "kiosk": frozenset({"view_live"}),
}
# Every role may look at its own login and log out.
ROLES = {role: perms | {"session"} for role, perms in ROLES.items()}
# Which roles may fill each slot of a shift (app/roster.py): a room's nurse and backup must be
# able to answer its alarms at the bedside; the supervising clinician must be a clinician.
SLOTS: dict[str, frozenset[str]] = {
    "nurse": frozenset({"nurse", "clinician"}),
    "backup": frozenset({"nurse", "clinician"}),
    "clinician": frozenset({"clinician"}),
}
DEVICE_PREFIX = "vwd_"
LOGIN_PREFIX = "vws_"

_hasher = PasswordHasher()


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class User:
    name: str
    role: str
    demo: bool

    @property
    def permissions(self) -> frozenset[str]:
        return ROLES.get(self.role, frozenset())

    def can(self, permission: str) -> bool:
        return permission in self.permissions


@dataclass(frozen=True)
class Login:
    user: User
    csrf: str
    token_hash: str
    # The sites the user sees as of this request (``Accounts.visible``); none unless said.
    sites: Visible = NO_SITE


class AccountError(ValueError):
    pass


@dataclass(frozen=True)
class Binding:
    """The rooms a device may feed: the listed ones, or any room when an admin said so."""

    rooms: tuple[str, ...]
    any_room: bool = False

    def allows(self, room: str) -> bool:
        return self.any_room or room in self.rooms

    def to_json(self) -> dict:
        return {"rooms": list(self.rooms), "any_room": self.any_room}


def binding(rooms: Iterable[str], any_room: bool = False) -> Binding:
    """A checked binding: 1–32 distinct room names of 1–64 characters, or ``any_room`` alone.
    A device bound to nothing could feed nothing, and "everything" must be said explicitly."""
    listed = tuple(dict.fromkeys(rooms))
    if any_room and listed:
        raise AccountError("give rooms or any room, not both")
    if not any_room and not listed:
        raise AccountError("a device must be bound to at least one room (--room ROOM, repeatable),"
                           " or knowingly to any room (--any-room)")
    if len(listed) > MAX_ROOMS:
        raise AccountError(f"at most {MAX_ROOMS} rooms per device")
    for room in listed:
        if not room or len(room) > MAX_ROOM or room != room.strip():
            raise AccountError(f"a room name is 1–{MAX_ROOM} characters without leading or"
                               f" trailing spaces, not {room[:80]!r}")
    return Binding(listed, any_room)


def _sites(names: Iterable[str]) -> tuple[str, ...]:
    try:
        return sites.checked(names)
    except SiteError as e:
        raise AccountError(str(e)) from None


class Accounts:
    def __init__(self, db: Database, default_site: str = sites.DEFAULT_SITE) -> None:
        self.db = db
        self.default_site = sites.check(default_site)
        db.create_tables(SCHEMA)
        self._bind_legacy_devices()
        if "site" not in self.db.columns("devices"):
            # Devices registered before sites: they belong to the default site.
            self.db.execute("ALTER TABLE devices ADD COLUMN site TEXT NOT NULL DEFAULT ''")

    def _bind_legacy_devices(self) -> None:
        """Databases from before devices were bound to rooms: each existing device is bound to
        the rooms it has already fed, so a working clinic keeps working and no device gains a
        new room; a device that never fed any room is bound to none until an admin binds it."""
        columns = self.db.columns("devices")
        if "rooms" in columns:
            return
        self.db.execute("ALTER TABLE devices ADD COLUMN rooms TEXT NOT NULL DEFAULT '[]'")
        self.db.execute("ALTER TABLE devices ADD COLUMN any_room INTEGER NOT NULL DEFAULT 0")
        try:
            fed = self.db.execute(
                "SELECT DISTINCT st.monitor_id, se.room FROM streams st"
                " JOIN sessions se ON se.id = st.session_id ORDER BY se.id").fetchall()
        except OperationalError:  # no readings stored yet
            fed = []
        rooms: dict[str, list[str]] = {}
        for row in fed:
            rooms.setdefault(row["monitor_id"], []).append(row["room"])
        for name, listed in rooms.items():
            self.db.execute("UPDATE devices SET rooms=? WHERE name=?", (json.dumps(listed), name))

    # Users -------------------------------------------------------------------------------

    def add_user(self, name: str, role: str, password: str, now: float, demo: bool = False,
                 granted: Iterable[str] = ()) -> User:
        """``granted``: the sites the user sees (none: the default site only)."""
        listed = _sites(granted)
        if role not in ROLES:
            raise AccountError(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
        if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise AccountError("a user name is 1–64 letters, digits, '-', '_' or '.'")
        if len(password) < 10 and not demo:
            raise AccountError("a password needs at least 10 characters")
        try:
            self.db.execute(
                "INSERT INTO users(name, role, password, demo, created) VALUES (?,?,?,?,?)",
                (name, role, _hasher.hash(password), int(demo), now),
            )
        except IntegrityError:
            raise AccountError(f"user {name!r} exists already") from None
        self._grant(name, listed)
        return User(name, role, demo)

    def _grant(self, name: str, listed: tuple[str, ...]) -> None:
        self.db.execute("DELETE FROM user_sites WHERE name=?", (name,))
        self.db.executemany("INSERT INTO user_sites(name, site) VALUES (?,?)", [(name, s) for s in listed])

    def set_user_sites(self, name: str, granted: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Replace the sites a user is granted; returns ``(old, new)`` for the audit."""
        listed = _sites(granted)
        if self.db.execute("SELECT 1 FROM users WHERE name=?", (name,)).fetchone() is None:
            raise AccountError(f"no user {name!r}")
        old = self.user_sites(name)
        self._grant(name, listed)
        return old, listed

    def user_sites(self, name: str) -> tuple[str, ...]:
        """The sites granted to a user, by name (none granted: empty)."""
        return tuple(r["site"] for r in self.db.execute(
            "SELECT site FROM user_sites WHERE name=? ORDER BY site", (name,)))

    def visible(self, user: User) -> Visible:
        """The sites ``user`` sees: every site for the admin role, else those granted, or the
        default site alone when none is."""
        if user.role == "admin":
            return sites.EVERY_SITE
        return Visible(frozenset(self.user_sites(user.name) or (self.default_site,)))

    def set_disabled(self, name: str, disabled: bool) -> None:
        if self.db.execute("UPDATE users SET disabled=? WHERE name=?", (int(disabled), name)).rowcount == 0:
            raise AccountError(f"no user {name!r}")
        if disabled:
            self.db.execute("DELETE FROM logins WHERE user=?", (name,))

    def users(self) -> list[dict]:
        rows = self.db.execute(
            "SELECT name, role, demo, disabled, created FROM users ORDER BY name").fetchall()
        granted: dict[str, list[str]] = {}
        for r in self.db.execute("SELECT name, site FROM user_sites ORDER BY site"):
            granted.setdefault(r["name"], []).append(r["site"])
        for r in rows:
            r["sites"] = granted.get(r["name"], [])
        return rows

    def password_record(self, name: str) -> dict | None:
        return self.db.execute("SELECT * FROM users WHERE name=?", (name,)).fetchone()

    @staticmethod
    def check_password(record: dict | None, password: str, demo_mode: bool) -> User | None:
        """The user if the password is right and the account usable here, else None. Pure CPU
        (argon2 takes tens of milliseconds by design): run it off the event loop."""
        if record is None:
            # Spend the same time as a real check, so timing does not tell which names exist.
            _hasher.hash(password)
            return None
        try:
            _hasher.verify(record["password"], password)
        except (VerificationError, InvalidHashError):
            return None
        if record["disabled"] or (record["demo"] and not demo_mode):
            return None
        return User(record["name"], record["role"], bool(record["demo"]))

    # Login sessions ----------------------------------------------------------------------

    def login(self, user: User, now: float) -> tuple[str, str]:
        """Start a login session; returns (session token, CSRF token)."""
        token, csrf = LOGIN_PREFIX + secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self.db.execute("INSERT INTO logins VALUES (?,?,?,?,?)", (digest(token), user.name, csrf, now, now))
        return token, csrf

    def session(self, token: str | None, now: float, idle_timeout_s: float,
                touch: bool = True) -> Login | None:
        """The login behind a session token, if it exists and has not been idle too long; a
        successful look-up counts as activity unless ``touch`` is false (an open dashboard
        re-checking its login is watching, not acting)."""
        if not token or not token.startswith(LOGIN_PREFIX):
            return None
        h = digest(token)
        row = self.db.execute(
            "SELECT l.csrf, l.last_seen, u.name, u.role, u.demo, u.disabled FROM logins l"
            " JOIN users u ON u.name = l.user WHERE l.token_hash=?", (h,)).fetchone()
        if row is None or row["disabled"]:
            return None
        if row["role"] != "kiosk" and now - row["last_seen"] > idle_timeout_s:
            self.db.execute("DELETE FROM logins WHERE token_hash=?", (h,))
            return None
        if touch:
            self.db.execute("UPDATE logins SET last_seen=? WHERE token_hash=?", (now, h))
        user = User(row["name"], row["role"], bool(row["demo"]))
        return Login(user, row["csrf"], h, self.visible(user))

    def logout(self, token_hash: str) -> None:
        self.db.execute("DELETE FROM logins WHERE token_hash=?", (token_hash,))

    # Devices -----------------------------------------------------------------------------

    def add_device(self, name: str, now: float, rooms: Iterable[str] = (), any_room: bool = False,
                   demo: bool = False, token: str | None = None, site: str | None = None) -> str:
        """Register a monitor by its monitor id, bound to the rooms it may feed (or, said
        explicitly, to any room), at ``site`` (None: the default site); returns its token (shown
        once, stored hashed). A ``token`` given is one issued before, registered again on another
        instance's own store."""
        bound = binding(rooms, any_room)
        at = "" if site is None else _sites([site])[0]
        if token is not None and (not token.startswith(DEVICE_PREFIX) or len(token) < len(DEVICE_PREFIX) + 32):
            raise AccountError(f"a device token starts with {DEVICE_PREFIX!r} and has at least 32 more characters")
        token = token or DEVICE_PREFIX + secrets.token_urlsafe(32)
        row = self.db.execute("SELECT revoked FROM devices WHERE name=?", (name,)).fetchone()
        if row is not None and row["revoked"] is None:
            raise AccountError(f"device {name!r} exists already; revoke it first to issue a new token")
        self.db.execute("DELETE FROM devices WHERE name=?", (name,))
        self.db.execute(
            "INSERT INTO devices(name, token_hash, created, demo, rooms, any_room, site)"
            " VALUES (?,?,?,?,?,?,?)",
            (name, digest(token), now, int(demo), json.dumps(list(bound.rooms)), int(bound.any_room), at))
        return token

    def device_site(self, name: str) -> str:
        """The site of a device (the default site for one registered without, or unknown)."""
        row = self.db.execute("SELECT site FROM devices WHERE name=?", (name,)).fetchone()
        return (row["site"] if row is not None else "") or self.default_site

    def device_binding(self, name: str) -> Binding | None:
        """The rooms an active device may feed; None if there is no such active device."""
        row = self.db.execute("SELECT rooms, any_room FROM devices WHERE name=? AND revoked IS NULL",
                              (name,)).fetchone()
        if row is None:
            return None
        return Binding(tuple(json.loads(row["rooms"])), bool(row["any_room"]))

    def set_device_rooms(self, name: str, rooms: Iterable[str], any_room: bool = False
                         ) -> tuple[Binding, Binding]:
        """Change the rooms an active device may feed; returns ``(old, new)`` for the audit."""
        new = binding(rooms, any_room)
        old = self.device_binding(name)
        if old is None:
            raise AccountError(f"no active device {name!r}")
        self.db.execute("UPDATE devices SET rooms=?, any_room=? WHERE name=? AND revoked IS NULL",
                        (json.dumps(list(new.rooms)), int(new.any_room), name))
        return old, new

    def may_feed(self, name: str, room: str) -> str:
        """"" if device ``name`` may feed ``room``, else why not (for the error it is sent)."""
        bound = self.device_binding(name)
        if bound is None:
            return f"device {name!r} is not an active device"
        if bound.allows(room):
            return ""
        if not bound.rooms:
            return (f"device {name!r} is bound to no room; an admin binds it with"
                    f" `vitalwatch device rooms {name} --room ROOM`")
        return (f"device {name!r} may feed only {', '.join(map(repr, bound.rooms))}, not {room!r};"
                " an admin changes its rooms")

    def revoke_device(self, name: str, now: float) -> None:
        if self.db.execute("UPDATE devices SET revoked=? WHERE name=? AND revoked IS NULL",
                           (now, name)).rowcount == 0:
            raise AccountError(f"no active device {name!r}")

    def devices(self) -> list[dict]:
        rows = self.db.execute(
            "SELECT name, created, revoked, demo, rooms, any_room, site FROM devices ORDER BY name").fetchall()
        for r in rows:
            r["rooms"], r["any_room"] = json.loads(r["rooms"]), bool(r["any_room"])
            r["site"] = r["site"] or self.default_site
        return rows

    def device(self, token: str | None, demo_mode: bool) -> tuple[str | None, str]:
        """``(monitor id, "")`` for a valid device token, else ``(None, why not)``. Like demo
        users, the demo's own device tokens are valid only in demo mode."""
        if not token:
            return None, "no device token (send 'Authorization: Bearer <token>')"
        row = self.db.execute("SELECT name, revoked, demo FROM devices WHERE token_hash=?",
                              (digest(token),)).fetchone()
        if row is None:
            return None, "unknown device token"
        if row["revoked"] is not None:
            return None, f"the token of device {row['name']!r} has been revoked"
        if row["demo"] and not demo_mode:
            return None, f"device {row['name']!r} is a demo device; this server is not in demo mode"
        return row["name"], ""
