"""Storage behind one interface: the PostgreSQL side's translation of the modules' SQL (one test
per rule), the --database URL (a bad one named, no password ever shown), the Store's writes and
reads giving the same answers on SQLite and on PostgreSQL, Alembic's migrations, and the
readings' monthly partitions made ahead and pruned by whole months."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from app import storage
from app.audit import Audit
from app.storage import migrate, partitions
from app.storage.postgres import translate
from app.store import Store
from monitors.protocol import Hello, monitor_message
from tests.conftest import ROOT, free_port, seconds
from tests.postgres import Postgres

T0 = 1_800_000_000.0  # 15 January 2027, 08:00 UTC


# The PostgreSQL translation, rule by rule ----------------------------------------------------

def test_placeholders_become_psycopgs_and_a_literal_percent_is_doubled() -> None:
    """``?`` becomes ``%s``; a ``%`` (in a LIKE pattern, in or out of a literal) becomes
    ``%%``, which psycopg reads back as one; a ``?`` inside a string literal stays."""
    assert translate("SELECT * FROM t WHERE a=? AND b LIKE '*%' AND c='?'") == (
        "SELECT * FROM t WHERE a=%s AND b LIKE '*%%' AND c='?'")


def test_insert_or_ignore_becomes_on_conflict_do_nothing() -> None:
    """SQLite's INSERT OR IGNORE is PostgreSQL's ON CONFLICT DO NOTHING, at the statement's end."""
    assert translate("INSERT OR IGNORE INTO s(a, b) SELECT x, y FROM z WHERE q = ?;") == (
        "INSERT INTO s(a, b) SELECT x, y FROM z WHERE q = %s ON CONFLICT DO NOTHING")
    assert translate("INSERT INTO s VALUES (?)") == "INSERT INTO s VALUES (%s)"


def test_the_column_user_is_quoted_and_nothing_else_named_like_it() -> None:
    """``user`` is reserved in PostgreSQL (bare, it is the current role, and a comparison with
    it would silently match nothing): the column is quoted; ``users``, ``user_id``, an already
    quoted ``"user"`` and a literal 'user' are left alone."""
    assert translate("SELECT * FROM logins WHERE user=? AND x IN (SELECT user_id FROM users)") == (
        'SELECT * FROM logins WHERE "user"=%s AND x IN (SELECT user_id FROM users)')
    assert translate("INSERT INTO audit(t, user, action) VALUES (?, 'user', \"user\")") == (
        "INSERT INTO audit(t, \"user\", action) VALUES (%s, 'user', \"user\")")


# The URL -----------------------------------------------------------------------------------

def test_database_urls_are_read_and_a_bad_one_is_named_without_its_password() -> None:
    """sqlite:/// with a relative or absolute path, postgresql:// (and postgres://); a wrong
    scheme, a missing host or database name, or a port that is no number is an error saying
    which, and neither the error nor the URL's text ever holds the password."""
    assert storage.parse("sqlite:///data/x.sqlite3").path == Path("data/x.sqlite3")
    assert storage.parse("sqlite:////var/lib/x.sqlite3").path == Path("/var/lib/x.sqlite3")
    pg = storage.parse("postgres://vw:s3cret@db:5432/vitalwatch")
    assert pg.scheme == "postgresql" and pg.url.startswith("postgresql://")
    assert str(pg) == "postgresql://vw:***@db:5432/vitalwatch"
    for url, what in [("mysql://vw:s3cret@db/x", "unknown scheme"), ("postgresql://vw:s3cret@/x", "no host"),
                      ("postgresql://vw:s3cret@db:5432/", "no database name"),
                      ("postgresql://vw:s3cret@db:port/x", "port is not a number"),
                      ("sqlite://relative.db", "sqlite:///path")]:
        with pytest.raises(storage.BadDatabaseURL, match=what) as e:
            storage.parse(url)
        assert "s3cret" not in str(e.value)


def test_serve_refuses_a_bad_or_unreachable_database_without_showing_the_password(tmp_path: Path) -> None:
    """``vitalwatch serve --database`` with an unknown scheme, or a PostgreSQL nobody listens
    on, exits at once with status 2 and a message naming the problem, not the password."""
    for url, what in [("mysql://vw:pw-never-shown@127.0.0.1/x", "unknown scheme"),
                      (f"postgresql://vw:pw-never-shown@127.0.0.1:{free_port()}/x", "cannot")]:
        done = subprocess.run([sys.executable, "-m", "app.cli", "serve", "--port", str(free_port()),
                               "--data-dir", str(tmp_path), "--database", url], check=False, cwd=ROOT,
                              capture_output=True, text=True, timeout=seconds(60))
        assert done.returncode == 2, done.stderr
        assert "refusing to start, the database" in done.stderr and what in done.stderr
        assert "pw-never-shown" not in done.stderr + done.stdout


# The Store on both -------------------------------------------------------------------------

def _msg(m: dict[str, Any]) -> Any:
    return monitor_message.validate_python(m)


def _session(store: Store) -> int:
    sid = store.start_session("Room 1", "test", T0)["id"]
    store.open_stream(Hello(type="hello", seq=0, protocol=1, monitor_id="mon-1", stream="s1",
                            room="Room 1", mode="test", vendor="acme"), sid)
    store.add_session_monitor(sid, "mon-1", T0, "monitor:mon-1")
    return int(sid)


def test_the_store_reads_back_what_it_wrote_alike_on_both(tmp_path: Path, database: str | None) -> None:
    """Every kind of message, stored and read back through the Store: numerics in order with the
    latest value per parameter, a cuff reading, a waveform's samples (a None stays None), a
    status, a monitor's mark; the stream's last seq; a refused seq recorded as unstored; a
    reject; the replay rows a restart reads; an INSERT's id. The same on SQLite and PostgreSQL."""
    store = Store(database or tmp_path / "vitalwatch.sqlite3")
    try:
        sid = _session(store)
        messages = [
            {"type": "numerics", "seq": 1, "t": T0, "values": {"HR": {"value": 70, "unit": "/min"},
                                                             "SpO2": {"value": 97, "unit": "%"}}},
            {"type": "numerics", "seq": 2, "t": T0 + 1, "values": {"HR": {"value": 72, "unit": "/min"}}},
            {"type": "nibp", "seq": 3, "t": T0 + 2, "status": "ok", "sys": 120, "dia": 80, "map": 93},
            {"type": "waveform", "seq": 4, "t": T0 + 3, "wave": "PLETH", "rate": 100,
             "samples": [0.5, None, 0.25]},
            {"type": "status", "seq": 5, "t": T0 + 4, "code": "probe_off", "active": True},
            {"type": "mark", "seq": 6, "t": T0 + 5, "what": "note", "text": "100% calm; 'quoted'"},
        ]
        for m in messages:
            store.store_message("mon-1", "s1", sid, _msg(m), T0 + 10)
        store.skip("mon-1", "s1", 7, 7, "values.SpO2", "out of range")
        store.reject("mon-1", 7, "values.SpO2", "out of range", '{"seq": 7}')

        assert store.last_seq("mon-1", "s1") == 7
        assert [(r["param"], r["value"]) for r in store.numerics(sid)] == [("HR", 70), ("SpO2", 97), ("HR", 72)]
        assert store.numerics(sid, params=["SpO2"]) == [{"t": T0, "param": "SpO2", "value": 97.0}]
        assert store.latest(sid)["values"] == {"HR": {"value": 72.0, "t": T0 + 1},
                                               "SpO2": {"value": 97.0, "t": T0}}
        assert store.latest(sid)["nibp"] == {"t": T0 + 2, "sys": 120.0, "dia": 80.0, "map": 93.0}
        assert store.waveforms(sid, "PLETH", T0, T0 + 10) == [
            {"t": T0 + 3, "rate": 100.0, "samples": [0.5, None, 0.25]}]
        assert store.statuses(sid) == [{"t": T0 + 4, "code": "probe_off", "active": 1, "text": ""}]
        assert [(m["what"], m["text"], m["by"]) for m in store.marks(sid)] == [
            ("note", "100% calm; 'quoted'", "monitor:mon-1")]
        assert store.unstored("mon-1", "s1", 7)["reason"] == "out of range"
        assert store.unstored("mon-1", "s1", 6) is None
        assert [r["field"] for r in store.rejects("mon-1")] == ["values.SpO2"]
        assert store.latest_t(sid) == T0 + 4
        replay = store.replay_rows(sid, T0 + 1, 60)
        assert [r["value"] for r in replay["numerics"]] == [72.0]
        assert [r["sys"] for r in replay["nibp"]] == [120.0] and len(replay["statuses"]) == 1
        assert [r["samples"] for r in replay["pleth"]] == [[0.5, None, 0.25]]
        assert [m["monitor_id"] for m in store.session_monitors(sid)] == ["mon-1"]
        mark = store.add_mark(sid, T0 + 6, "dose", "", "user-clinician")
        assert mark["id"] == 2 and store.start_session("Room 2", "test", T0)["id"] == sid + 1
    finally:
        store.close()


def test_constraints_and_append_only_tables_raise_one_error_type_on_both(
        tmp_path: Path, database: str | None) -> None:
    """A duplicate key and an UPDATE of the append-only audit trail both raise
    storage.IntegrityError (the trigger's message kept), and the connection goes on working."""
    store = Store(database or tmp_path / "vitalwatch.sqlite3")
    try:
        sid = _session(store)
        with pytest.raises(storage.IntegrityError):
            store.add_session_monitor(sid, "mon-1", T0, "x")  # upserts: no error
            store.db.execute("INSERT INTO session_monitors(session_id, monitor_id, added) VALUES (?,?,?)",
                             (sid, "mon-1", T0))
        audit = Audit(store.db)
        audit.record(T0, "user-admin", "user_added", "ann")
        with pytest.raises(storage.IntegrityError, match="append-only"):
            store.db.execute("UPDATE audit SET action='nothing'")
        with pytest.raises(storage.IntegrityError, match="append-only"):
            store.db.execute("DELETE FROM audit")
        assert [r["user"] for r in audit.entries()] == ["user-admin"]
    finally:
        store.close()


# Migrations and partitions (PostgreSQL) ---------------------------------------------------------

def test_vitalwatch_migrate_brings_an_empty_database_to_the_head_and_again_changes_nothing(
        postgres: Postgres) -> None:
    """``vitalwatch migrate --database URL`` on an empty database creates the schema with
    Alembic (revision recorded, the readings tables partitioned with a default partition), says
    which revision it is at without the password, and run again is a no-op."""
    url = postgres.create_database()
    assert migrate.current(url) is None
    for _ in range(2):
        done = subprocess.run([sys.executable, "-m", "app.cli", "migrate", "--database", url],
                              check=False, cwd=ROOT,
                              capture_output=True, text=True, timeout=seconds(60))
        assert done.returncode == 0, done.stderr
        assert "at revision 0003" in done.stdout and postgres.password not in done.stdout + done.stderr
    assert migrate.current(url) == "0003"
    db = storage.connect(url)
    try:
        kinds = {r["relname"]: r["relkind"] for r in db.execute(
            "SELECT relname, relkind FROM pg_class WHERE relname IN ('numerics', 'nibp', 'waveforms',"
            " 'statuses', 'numerics_default', 'sessions')")}
        assert kinds == {"numerics": "p", "nibp": "p", "waveforms": "p", "statuses": "p",
                         "numerics_default": "r", "sessions": "r"}
    finally:
        db.close()


def test_a_user_added_from_the_command_line_before_the_first_start_lands_in_postgresql(
        postgres: Postgres, tmp_path: Path) -> None:
    """``vitalwatch user add --database postgresql://…`` on a database no server has started on
    yet migrates it first and adds the user there (not in a SQLite file of the data dir)."""
    url = postgres.create_database()
    done = subprocess.run([sys.executable, "-m", "app.cli", "user", "add", "bob", "--role", "nurse",
                           "--database", url, "--data-dir", str(tmp_path)], input="a long enough password\n",
                          check=False, cwd=ROOT, capture_output=True, text=True, timeout=seconds(60))
    assert done.returncode == 0, done.stderr
    db = storage.connect(url)
    try:
        assert db.execute("SELECT role FROM users WHERE name='bob'").fetchone() == {"role": "nurse"}
        assert [r["action"] for r in db.execute("SELECT action FROM audit")] == ["user_added"]
    finally:
        db.close()
    assert not (tmp_path / "vitalwatch.sqlite3").exists()


def _where(db: storage.Database, table: str) -> list[tuple[str, float]]:
    return [(r["p"], r["t"]) for r in db.execute(f"SELECT tableoid::regclass::text AS p, t FROM {table} ORDER BY t")]


def test_readings_go_to_their_months_partition_and_pruning_drops_whole_months(postgres_url: str) -> None:
    """Months made ahead take their readings (an earlier one already in the default partition
    is moved into its month when that month is made); making them again makes nothing; pruning
    before a date drops exactly the months that end by then, in every readings table, and the
    months after keep all their readings."""
    store = Store(postgres_url)
    db = store.db
    try:
        sid = _session(store)
        jan, feb, mar = T0, T0 + 31 * 86400, T0 + 60 * 86400  # 15 Jan, 15 Feb, 16 Mar 2027
        store.store_message("mon-1", "s1", sid, _msg({"type": "numerics", "seq": 1, "t": jan,
                                                      "values": {"HR": {"value": 70, "unit": "/min"}}}), jan)
        assert _where(db, "numerics") == [("numerics_default", jan)]
        made = partitions.ensure_months(db, jan, ahead=2)
        assert {n for n in made if n.startswith("numerics")} == {
            "numerics_y2027m01", "numerics_y2027m02", "numerics_y2027m03"}
        assert len(made) == 12 and partitions.ensure_months(db, jan, ahead=2) == []
        for seq, t in ((2, feb), (3, mar)):
            store.store_message("mon-1", "s1", sid, _msg({"type": "numerics", "seq": seq, "t": t,
                                                          "values": {"HR": {"value": 70 + seq, "unit": "/min"}}}), t)
        store.store_message("mon-1", "s1", sid, _msg({"type": "status", "seq": 4, "t": feb,
                                                      "code": "motion"}), feb)
        assert _where(db, "numerics") == [("numerics_y2027m01", jan), ("numerics_y2027m02", feb),
                                          ("numerics_y2027m03", mar)]
        dropped = partitions.drop_months(db, feb)  # 15 February: only January has ended
        assert dropped == ["numerics_y2027m01", "nibp_y2027m01", "waveforms_y2027m01", "statuses_y2027m01"]
        assert [r["value"] for r in store.numerics(sid)] == [72.0, 73.0]
        assert [r["t"] for r in store.statuses(sid)] == [feb]
        assert [name for name, _, _ in partitions.months(db, "numerics")] == [
            "numerics_y2027m02", "numerics_y2027m03"]
    finally:
        store.close()


def test_a_server_on_postgresql_makes_the_months_ahead_at_start_up(tmp_path: Path, postgres_url: str) -> None:
    """Started on a PostgreSQL database, the server (having migrated it) makes the readings'
    partitions of the current month and the next two."""
    from tests.conftest import Server

    server = Server(free_port(), tmp_path / "data", database=postgres_url).start()
    try:
        db = server.db()
        try:
            names = [n for n, _, _ in partitions.months(db, "numerics")]
        finally:
            db.close()
    finally:
        server.kill()
    now = time.gmtime()
    assert len(names) == 3 and names[0] == f"numerics_y{now.tm_year:04d}m{now.tm_mon:02d}"


def test_the_modules_sql_gives_the_same_answers_on_both(tmp_path: Path, database: str | None) -> None:
    """The modules beside the Store, on one database: a signed report's PDF bytes come back
    byte for byte, a second signing of a version and any change to it are refused; deliveries
    are listed in order for the report; an acknowledge link is spent once; a login is found by
    its token (through the quoted ``user`` column) and ends at logout; a device feeds its room
    until revoked; a course finds its sessions by the check-in's label."""
    from alerts.delivery.wire import State
    from app.accounts import Accounts
    from app.ack_link import AckLinks, LinkError
    from app.delivery_log import DeliveryLog
    from app.record import CheckIn, Record
    from app.report import course
    from app.report.model import deliveries
    from app.report.signed import Reports

    store = Store(database or tmp_path / "vitalwatch.sqlite3")
    db = store.db
    try:
        sid = _session(store)
        reports = Reports(db)
        pdf = bytes(range(256)) * 4
        reports.add(sid, 1, "user-clinician", T0, "", pdf, '{"a": 1}')
        assert reports.content(sid)["pdf"] == pdf and reports.latest_version(sid) == 1
        with pytest.raises(storage.IntegrityError):
            reports.add(sid, 1, "user-clinician", T0, "", pdf, "{}")
        with pytest.raises(storage.IntegrityError, match="immutable"):
            db.execute("UPDATE reports SET signed_by='someone else'")

        log = DeliveryLog(db)
        ids = [log.add(alarm_id=1, log_id=1, session_id=sid, event="raised", step="nurse",
                       recipient="ann", channel="push", destination=f"push ann #{k}", t=T0 + k)
               for k in range(3)]
        assert log.move(ids[1], State.sent, T0 + 5, detail="sent") and not log.move(ids[1], State.queued, T0 + 6)
        listed = deliveries(db, sid)
        assert listed.available and [r["id"] for r in listed.rows] == ids
        assert [r["state"] for r in listed.rows] == ["queued", "sent", "queued"]

        links = AckLinks(db, b"k" * 32)
        link = links.read(links.make(ids[0], 1, "ann", T0 + 60), T0)
        links.spend(link, T0 + 1)
        with pytest.raises(LinkError):
            links.spend(link, T0 + 2)

        accounts = Accounts(db)
        user = accounts.add_user("ann", "nurse", "a long enough password", T0)
        token, _ = accounts.login(user, T0)
        who = accounts.session(token, T0 + 1, 3600)
        assert who is not None and who.user.name == "ann"
        accounts.logout(who.token_hash)
        assert accounts.session(token, T0 + 2, 3600) is None
        device_token = accounts.add_device("bed-1", T0, ["Room 1"])
        assert accounts.device(device_token, False)[0] == "bed-1" and accounts.may_feed("bed-1", "Room 1") == ""
        accounts.revoke_device("bed-1", T0 + 3)
        assert accounts.device(device_token, False)[0] is None

        record = Record(db)
        record.add(sid, CheckIn(t_device=T0, label="P-17", weight_kg=70, drug="ketamine", route="iv"),
                   "user-clinician", T0)
        assert course.sessions_of(store, record, "P-17") == [sid]
        assert course.sessions_of(store, record, "P-18") == []
    finally:
        store.close()


def test_the_migrations_make_every_table_the_modules_make_on_sqlite(tmp_path: Path, postgres_url: str) -> None:
    """Every table the modules create on SQLite exists on PostgreSQL after the migrations, with
    the same columns in the same order (``SELECT *`` and ``INSERT ... VALUES`` rely on it), and
    no other: a column added to a module's SCHEMA without a migration fails here."""
    from alerts.rules import load
    from app.accounts import Accounts
    from app.ack_link import AckLinks
    from app.alarm_log import AlarmLog
    from app.delivery_log import DeliveryLog
    from app.push import Devices, vapid_key
    from app.record import Record
    from app.report.signed import Reports
    from app.roster import Roster

    def make_all(store: Store) -> None:
        db = store.db
        for module in (Accounts, Audit, AlarmLog, DeliveryLog, Record, Roster, Reports):
            module(db)
        AckLinks(db, b"k" * 32)
        Devices(db, vapid_key(tmp_path), "mailto:a@b.example", load(None).delivery)

    sqlite_store, pg_store = Store(tmp_path / "vitalwatch.sqlite3"), Store(postgres_url)
    try:
        make_all(sqlite_store)
        make_all(pg_store)
        lite = sqlite_store.db
        expected = {t["name"]: [c["name"] for c in lite.execute(f"PRAGMA table_info({t['name']})")]
                    for t in lite.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        found: dict[str, list[str]] = {}
        for c in pg_store.db.execute(
                "SELECT c.table_name, c.column_name FROM information_schema.columns c"
                " JOIN pg_class k ON k.relname = c.table_name AND NOT k.relispartition"
                " WHERE c.table_schema = current_schema() AND c.table_name <> 'alembic_version'"
                " ORDER BY c.table_name, c.ordinal_position"):
            if c["column_name"] != "rowid":  # PostgreSQL's stand-in for SQLite's implicit one
                found.setdefault(c["table_name"], []).append(c["column_name"])
        assert found == expected
    finally:
        sqlite_store.close()
        pg_store.close()
