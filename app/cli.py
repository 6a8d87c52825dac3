"""The ``vitalwatch`` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.sites import DEFAULT_SITE

if TYPE_CHECKING:
    from app.accounts import Binding

log = logging.getLogger("vitalwatch")

# `monitor sim` doses a scenario this many minutes in, as `generate()` does; a shorter run doses
# half-way instead, so every run of a scenario contains its dose.
SIM_PRE_DOSE_MIN = 10.0


def build_parser() -> argparse.ArgumentParser:
    """Every command and argument, each with its help text."""
    parser = argparse.ArgumentParser(prog="vitalwatch", description=(
        "Vital-signs monitoring for ketamine-assisted therapy sessions. "
        "Not a certified medical device."))
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server")
    _server_args(serve)
    serve.add_argument("--rules", type=Path, help="alarm rules file (default: the built-in rules)")
    serve.add_argument("--channels", type=Path, metavar="FILE",
                       help="where alarms are sent: push, notification URLs, webhooks, HL7 PCD-04 "
                            "alarm managers (docs/delivery.md); a wrong file stops the server "
                            "(default: the nurse views' own push only)")
    serve.add_argument("--public-url", metavar="URL",
                       help="the address nurses' phones reach this server at, for the acknowledge "
                            "links in notifications (default: http(s)://HOST:PORT)")
    serve.add_argument("--bus", metavar="URL",
                       help="the bus between a site's instances, redis://host:port/db: every "
                            "dashboard sees every room of the site (docs/cluster.md)")
    serve.add_argument("--instance-id", metavar="NAME",
                       help="this instance's name on the bus (default: <host name>:<port>)")
    _default_site_arg(serve)
    _database_arg(serve)
    serve.add_argument("--fsync", action="store_true",
                       help="fsync every stored message (survives power loss; slower)")
    serve.add_argument("--idle-timeout", type=float, default=120,
                       help="minutes without activity before a login ends (kiosk logins never do)")
    serve.add_argument("--certfile", help="TLS certificate (PEM)")
    serve.add_argument("--keyfile", help="TLS private key (PEM)")
    serve.add_argument("--allowed-origin", action="append", default=[],
                       help="another origin browsers may come from (e.g. behind a proxy); repeatable")

    migrate = sub.add_parser("migrate", help="bring a PostgreSQL database to the latest schema "
                                            "(the server also does at start-up)")
    migrate.add_argument("--database", metavar="URL", required=True,
                         help="postgresql://user:password@host:port/name")

    demo = sub.add_parser("demo", help="run the server with five simulated rooms")
    _server_args(demo)
    demo.add_argument("--timings", type=Path, metavar="FILE",
                      help="the waits laid over the clinic rules so a session can be walked "
                           "through in minutes (default: app/demo-timings.yaml)")
    demo.add_argument("--cuff-every", type=float, metavar="S",
                      help="the check-in room's cuff cycle in seconds (default 60)")

    user = sub.add_parser("user", help="manage users")
    usub = user.add_subparsers(dest="action", required=True)
    uadd = usub.add_parser("add", help="add a user (password from a prompt, or from stdin)")
    uadd.add_argument("name", help="the login name")
    uadd.add_argument("--role", required=True, help="clinician, nurse, reviewer, admin, kiosk")
    _sites_arg(uadd)
    _data_dir_arg(uadd)
    _database_arg(uadd)
    usites = usub.add_parser("sites", help="replace the sites a user sees (audited)")
    usites.add_argument("name", help="the login name")
    _sites_arg(usites)
    _data_dir_arg(usites)
    _database_arg(usites)

    device = sub.add_parser("device", help="manage monitor devices and their tokens")
    dsub = device.add_subparsers(dest="action", required=True)
    dadd = dsub.add_parser("add", help="register a monitor and the rooms it may feed; prints its "
                           "token once")
    dadd.add_argument("name", help="the monitor id the device will use")
    _rooms_args(dadd)
    dadd.add_argument("--site", metavar="SITE",
                      help="the site the device's rooms belong to: 1-32 lowercase letters, digits "
                           "or '-' (default: the server's default site, --default-site)")
    _data_dir_arg(dadd)
    _database_arg(dadd)
    drooms = dsub.add_parser("rooms", help="change the rooms a monitor may feed (audited)")
    drooms.add_argument("name", help="the monitor id of a registered device")
    _rooms_args(drooms)
    _data_dir_arg(drooms)
    _database_arg(drooms)
    dlist = dsub.add_parser("list", help="the devices, their rooms and whether revoked")
    _data_dir_arg(dlist)
    _database_arg(dlist)
    drevoke = dsub.add_parser("revoke", help="revoke a monitor's token")
    drevoke.add_argument("name", help="the monitor id of a registered device")
    _data_dir_arg(drevoke)
    _database_arg(drevoke)

    simulate = sub.add_parser("simulate", help="write a simulated session to a recording file")
    simulate.add_argument("--scenario", required=True, help="the scenario: " + ", ".join(_scenarios()))
    simulate.add_argument("--seed", type=int, default=0,
                          help="random seed: the same seed gives the same session (default 0)")
    simulate.add_argument("--minutes", type=float, default=90,
                          help="length of the session in minutes (default 90)")
    simulate.add_argument("--route", help="iv, im, sublingual, esketamine (default: the scenario's)")
    simulate.add_argument("--waveforms", action="store_true",
                          help="also write the pleth, ECG and capnogram waveforms (large files)")
    simulate.add_argument("--out", type=Path, required=True, help="recording file (.jsonl or .jsonl.gz)")

    evaluate = sub.add_parser(
        "evaluate", help="run alarm rules over recordings offline",
        description="Feed recordings through the alarm system as the live server would. Prints "
                    "the first rule set's alarm changes as JSON lines on stdout; on stderr its "
                    "JSON summary, then a per-rule table and any refused records.")
    evaluate.add_argument("files", nargs="+", type=Path,
                          help="recording files (.jsonl or .jsonl.gz: simulate, export or import)")
    evaluate.add_argument("--rules", type=Path, action="append",
                          help="alarm rules file (default: the built-in rules); give several to "
                               "compare them side by side in --report")
    evaluate.add_argument("--report", type=Path,
                          help="write the rule workbench here: one self-contained HTML file "
                               "comparing every --rules side by side")

    export = sub.add_parser("export", help="write a recorded session to a recording file")
    export.add_argument("session", type=int, help="the session's id (as on the Sessions page)")
    export.add_argument("--out", type=Path, required=True,
                        help="recording file to write (.jsonl, or .jsonl.gz to compress)")
    export.add_argument("--data-dir", type=Path, default=Path("data"),
                        help="the server's data directory (default: data); opened read-only")

    replay = sub.add_parser("replay", help="stream a recording through a server as a monitor")
    replay.add_argument("file", type=Path, help="a recording (.jsonl or .jsonl.gz)")
    replay.add_argument("--server", default="ws://127.0.0.1:8000", help="server URL")
    replay.add_argument("--speed", type=float, default=1.0, help="times real time (default 1)")
    replay.add_argument("--from", dest="skip", default="0:00", help="start this far in (MM:SS)")
    replay.add_argument("--room", help="default: the recording's room")
    replay.add_argument("--monitor-id", help="default: replay-<the recording's monitor id>")
    _token_arg(replay)

    imp = sub.add_parser("import", help="convert a recording from another format")
    isub = imp.add_subparsers(dest="format", required=True)
    iwfdb = isub.add_parser("wfdb", help="a PhysioNet WFDB record (path without extension)")
    iwfdb.add_argument("record", help="the record's path without extension (e.g. data/03700181); "
                       "numerics, waveform, multi-rate, multi-segment and .mat records")
    iwfdb.add_argument("--out", type=Path, required=True, help="recording file to write "
                       "(.jsonl or .jsonl.gz); exit status 1 and no file if nothing could be imported")
    icsv = isub.add_parser("csv", help="a CSV whose header names the parameters")
    icsv.add_argument("file", type=Path, help="the CSV file (docs/recording-format.md: columns)")
    icsv.add_argument("--out", type=Path, required=True, help="recording file to write "
                      "(.jsonl or .jsonl.gz); exit status 1 and no file if nothing could be imported")
    ivital = isub.add_parser("vital", help="a VitalDB .vital file")
    ivital.add_argument("file", type=Path, help="the .vital file")
    ivital.add_argument("--out", type=Path, required=True, help="recording file to write "
                        "(.jsonl or .jsonl.gz); exit status 1 and no file if nothing could be imported")

    monitor = sub.add_parser("monitor", help="run a monitor adapter")
    msub = monitor.add_subparsers(dest="source", required=True)
    sim = msub.add_parser("sim", help="a simulated monitor")
    sim.add_argument("--server", default="ws://127.0.0.1:8000", help="server URL")
    sim.add_argument("--room", required=True, help="the room the monitor feeds, as the central "
                     "station names it")
    sim.add_argument("--monitor-id", help="default: sim-<room>")
    sim.add_argument("--scenario", default="typical-responder",
                     help="a simulator scenario: " + ", ".join(_scenarios()))
    sim.add_argument("--profile", help="instead of a scenario, a basic test pattern: "
                     "normal, tachycardia, bp-surge, low-spo2")
    sim.add_argument("--seed", type=int, default=0, help="random seed: the same seed, the same "
                     "session")
    sim.add_argument("--speed", type=float, default=1.0, help="times real time")
    sim.add_argument("--minutes", type=float, default=90, help="length of the simulated session "
                     "(default 90)")
    sim.add_argument("--pre-dose", type=float, help="scenarios: minutes before the dose (default: "
                     f"{SIM_PRE_DOSE_MIN:g}, or half of --minutes when the run is no longer)")
    sim.add_argument("--from", dest="skip", default="0:00", help="start this far in (MM:SS)")
    sim.add_argument("--ramp", type=float, default=600, help="test patterns: seconds to develop")
    sim.add_argument("--waveforms", action="store_true", help="also send waveforms")
    sim.add_argument("--mode", default="demo", choices=["live", "demo", "test"],
                     help="how the data is labelled (simulated data is never 'live' by default)")
    _token_arg(sim)

    serial = msub.add_parser("serial", help="a monitor on a serial port")
    serial.add_argument("--port", required=True, help="e.g. /dev/ttyUSB0")
    serial.add_argument("--protocol", required=True, help="masimo, contec, intellivue, generic")
    serial.add_argument("--server", default="ws://127.0.0.1:8000", help="server URL")
    serial.add_argument("--room", required=True, help="the room the monitor feeds, as the "
                        "central station names it")
    serial.add_argument("--monitor-id", help="default: serial-<port name>")
    serial.add_argument("--baud", type=int, help="override the protocol's baud rate")
    serial.add_argument("--mode", default="live", choices=["live", "demo", "test"],
                        help="how the data is labelled (default live)")
    _token_arg(serial)

    hl7 = msub.add_parser("hl7", help="monitors and gateways sending HL7 v2 (IHE PCD-01 ORU^R01) "
                          "over MLLP; each equipment id streams as its own monitor (docs/hl7.md)")
    hl7.add_argument("--listen", required=True, metavar="HOST:PORT",
                     help="where monitors connect, e.g. 0.0.0.0:2575 (the usual HL7 port)")
    hl7.add_argument("--devices", required=True, type=Path, metavar="FILE",
                     help="the device map: one line per device, 'EQUIPMENT_ID MONITOR_ID ROOM "
                          "TOKEN' (TOKEN may be env:NAME)")
    hl7.add_argument("--server", default="ws://127.0.0.1:8000", help="server URL")
    hl7.add_argument("--mode", default="live", choices=["live", "demo", "test"],
                     help="how the data is labelled")
    hl7.add_argument("--silent-after", type=float, default=30.0, metavar="SECONDS",
                     help="a device that sends nothing for this long is reported lost "
                          "(device_lost; default 30, set it to ~3x the monitor's sending interval)")
    hl7.add_argument("--certfile", help="TLS certificate (PEM): monitors connect over TLS")
    hl7.add_argument("--keyfile", help="TLS private key (PEM), with --certfile")
    hl7.add_argument("--client-ca", help="with TLS, accept only monitors whose client certificate "
                     "this CA (PEM) signed")

    balancer = sub.add_parser("balancer", help="print the HAProxy configuration for instances "
                              "behind one address (docs/deploy.md)")
    balancer.add_argument("--listen", default="0.0.0.0:8000", metavar="HOST:PORT",
                          help="where browsers and monitors connect (default 0.0.0.0:8000)")
    balancer.add_argument("--instance", action="append", required=True, metavar="NAME=HOST:PORT",
                          help="a vitalwatch serve instance; once per instance")
    balancer.add_argument("--check-interval", type=float, default=1.0, metavar="SECONDS",
                          help="how often each instance's /readyz is checked (default 1)")

    cluster = sub.add_parser("cluster", help="try a cluster on this machine: Redis, several instances "
                             "behind HAProxy and simulated monitors through it (docs/deploy.md)")
    cluster.add_argument("--host", default="127.0.0.1", help="where the balancer listens (default 127.0.0.1)")
    cluster.add_argument("--port", type=int, default=8000, help="the balancer's port (default 8000)")
    cluster.add_argument("--instances", type=int, default=3, choices=range(1, 10), metavar="N",
                         help="vitalwatch instances (1-9, default 3)")
    cluster.add_argument("--rooms", type=int, default=3, choices=range(65), metavar="N",
                         help="simulated monitors, one room each (0-64, default 3)")
    cluster.add_argument("--data-dir", type=Path, default=Path("data/cluster"),
                         help="an empty directory for the parts' stores and logs (default data/cluster)")

    emulate = sub.add_parser("emulate", help="emulate a serial device on a pseudo-terminal")
    emulate.add_argument("protocol", help="masimo, contec, intellivue, generic")
    emulate.add_argument("--scenario", default="typical-responder",
                         help="the simulator scenario the device plays: " + ", ".join(_scenarios()))
    emulate.add_argument("--seed", type=int, default=0, help="random seed of the scenario")
    emulate.add_argument("--speed", type=float, default=1.0, help="times real time")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The channels' libraries log every notice they send at INFO, with its address (a webhook's
    # URL, a nurse's e-mail): the delivery log keeps what was sent where; the server's log keeps
    # only their warnings.
    for library in ("httpx", "apprise"):
        logging.getLogger(library).setLevel(max(logging.WARNING, logging.getLogger().level))
    if args.command == "serve":
        return _serve(args)
    if args.command == "migrate":
        return _migrate(args)
    if args.command in ("user", "device"):
        return _accounts(args)
    if args.command == "simulate":
        return _simulate(args)
    if args.command == "evaluate":
        from alerts.rules import RulesError, load
        from offline.command import run

        try:
            rulesets = [load(p) for p in (args.rules or [None])]
        except RulesError as e:
            print(f"vitalwatch evaluate: the rules file has problems:\n{e}", file=sys.stderr)
            return 2
        return run([str(f) for f in args.files], rulesets, report=args.report)
    if args.command == "export":
        from offline.export import export_session

        return export_session(args.session, args.out, args.data_dir)
    if args.command == "replay":
        from monitors.replay import replay as replay_file

        return asyncio.run(replay_file(args.file, args.server, speed=args.speed, skip_s=mmss(args.skip),
                                       room=args.room, monitor_id=args.monitor_id, token=args.token))
    if args.command == "import":
        from monitors.importers import run_import

        return run_import(args.format, getattr(args, "record", None) or str(args.file), args.out)
    if args.command == "demo":
        from app.demo import DEMO_TIMINGS, run_demo
        from monitors.simulator.parameters import CHECKIN_CUFF_EVERY_S

        return asyncio.run(run_demo(args.host, args.port, args.data_dir, args.timings or DEMO_TIMINGS,
                                    args.cuff_every or CHECKIN_CUFF_EVERY_S))
    if args.command == "monitor" and args.source == "sim":
        return asyncio.run(_monitor_sim(args))
    if args.command == "monitor" and args.source == "serial":
        from monitors.serial_link import run_monitor

        return asyncio.run(run_monitor(args.port, args.protocol, args.server, args.room,
                                       monitor_id=args.monitor_id, token=args.token,
                                       baud=args.baud, mode=args.mode))
    if args.command == "monitor" and args.source == "hl7":
        from monitors.hl7.listener import run_listener

        return asyncio.run(run_listener(args.listen, args.devices, args.server, mode=args.mode,
                                        silent_s=args.silent_after, certfile=args.certfile,
                                        keyfile=args.keyfile, client_ca=args.client_ca,
                                        err=lambda text: print(f"vitalwatch monitor hl7: {text}",
                                                               file=sys.stderr)))
    if args.command == "balancer":
        return _balancer(args)
    if args.command == "cluster":
        from app.local_cluster import run_cluster

        return run_cluster(args.data_dir, args.port, args.instances, args.rooms, args.host)
    if args.command == "emulate":
        from monitors.emulator import run_emulator

        return asyncio.run(run_emulator(args.protocol, args.scenario, args.seed, args.speed))
    parser.error("unknown command")
    return 2


def _balancer(args: argparse.Namespace) -> int:
    from app.balancer import BalancerConfig, parse_address, parse_instance

    try:
        if not args.check_interval > 0:
            raise ValueError(f"--check-interval: {args.check_interval:g} s; it must be more than 0")
        host, port = parse_address(args.listen, "--listen")
        backends = tuple(parse_instance(text) for text in args.instance)
        if len({b.name for b in backends}) < len(backends):
            raise ValueError("--instance: two instances have the same name")
        config = BalancerConfig(bind_host=host, bind_port=port, backends=backends,
                                check_interval_s=args.check_interval)
    except ValueError as e:
        print(f"vitalwatch balancer: {e}", file=sys.stderr)
        return 2
    print(config.render(), end="")
    return 0


def _scenarios() -> tuple[str, ...]:
    from monitors.simulator import SCENARIOS

    return tuple(SCENARIOS)


def mmss(text: str) -> float:
    minutes, _, seconds = text.partition(":")
    return int(minutes) * 60 + float(seconds or 0)


def _simulate(args: argparse.Namespace) -> int:
    from monitors import recording
    from monitors.simulator import generate

    try:
        header, records = generate(args.scenario, args.seed, minutes=args.minutes,
                                   waveforms=args.waveforms, route=args.route)
    except ValueError as e:
        print(f"vitalwatch simulate: {e}", file=sys.stderr)
        return 2
    n = recording.write(args.out, header, records)
    print(f"wrote {n} records ({args.minutes:g} min of {args.scenario}, seed {args.seed}) to {args.out}")
    return 0


def _rooms_args(p: argparse.ArgumentParser) -> None:
    rooms = p.add_mutually_exclusive_group(required=True)
    rooms.add_argument("--room", action="append", dest="rooms", metavar="ROOM",
                       help="a room the monitor may feed (repeatable)")
    rooms.add_argument("--any-room", action="store_true",
                       help="let the monitor feed any room (choose this knowingly: a token of such a "
                            "device can feed every room of the clinic)")


def _sites_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--site", action="append", dest="sites", default=[], metavar="SITE",
                   help="a site the user sees (repeatable; none: the default site only; the admin "
                        "role sees every site)")


def _default_site_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--default-site", metavar="SITE", default=DEFAULT_SITE,
                   help="the site of devices registered without one, and the site users without a "
                        f"grant see (default {DEFAULT_SITE!r})")


def _token_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--token", default=os.environ.get("VITALWATCH_TOKEN"),
                   help="the device token (default: $VITALWATCH_TOKEN)")


def _server_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    _data_dir_arg(p)


def _data_dir_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, default=Path("data"),
                   help="the server's data directory: its database, keys and logs (default ./data)")


def _database_arg(p: argparse.ArgumentParser) -> None:
    # From the environment too: a password on the command line is visible to every user of ps.
    p.add_argument("--database", metavar="URL", default=os.environ.get("VITALWATCH_DATABASE") or None,
                   help="sqlite:///path/to/file.sqlite3 or postgresql://user:password@host:port/name "
                        "(default: $VITALWATCH_DATABASE, else the SQLite file in the data dir; docs/storage.md)")


def _migrate(args: argparse.Namespace) -> int:
    from app import storage
    from app.storage import migrate

    try:
        parsed = storage.parse(args.database)
        if parsed.scheme != "postgresql":
            print("vitalwatch migrate: only PostgreSQL has migrations (SQLite's tables are made by "
                  "the server)", file=sys.stderr)
            return 2
        revision = migrate.upgrade(parsed.url)
    except (storage.BadDatabaseURL, storage.DatabaseError) as e:
        print(f"vitalwatch migrate: {e}", file=sys.stderr)
        return 2
    print(f"{parsed}: at revision {revision}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from alerts.delivery.config import ChannelsError
    from alerts.rules import RulesError
    from app import storage
    from app.bus import BusError
    from app.server import Settings, create_app, run
    from app.sites import SiteError

    if bool(args.certfile) != bool(args.keyfile):
        print("vitalwatch: --certfile and --keyfile go together", file=sys.stderr)
        return 2
    scheme = "https" if args.certfile else "http"
    try:
        app = create_app(Settings(
            data_dir=args.data_dir, rules=args.rules, fsync=args.fsync,
            idle_timeout_s=args.idle_timeout * 60, tls=bool(args.certfile),
            allowed_origins=tuple(args.allowed_origin), channels=args.channels,
            public_url=args.public_url or f"{scheme}://{args.host}:{args.port}",
            bus=args.bus, instance_id=args.instance_id or f"{socket.gethostname()}:{args.port}",
            database=args.database, default_site=args.default_site))
    except RulesError as e:
        print(f"vitalwatch: refusing to start, the rules file has problems:\n{e}", file=sys.stderr)
        return 2
    except ChannelsError as e:
        print(f"vitalwatch: refusing to start, the channels file has problems:\n{e}", file=sys.stderr)
        return 2
    except BusError as e:
        print(f"vitalwatch: refusing to start: {e}", file=sys.stderr)
        return 2
    except (storage.BadDatabaseURL, storage.DatabaseError) as e:  # neither shows a password
        print(f"vitalwatch: refusing to start, the database: {e}", file=sys.stderr)
        return 2
    except SiteError as e:
        print(f"vitalwatch: refusing to start, --default-site: {e}", file=sys.stderr)
        return 2
    print(f"vitalwatch serving on {scheme}://{args.host}:{args.port}", flush=True)
    asyncio.run(run(app, args.host, args.port, args.certfile, args.keyfile))
    return 0


def _accounts(args: argparse.Namespace) -> int:
    import getpass
    import time

    from app import storage
    from app.accounts import AccountError, Accounts
    from app.audit import Audit
    from app.storage import migrate
    from app.store import Store

    try:
        if args.database and storage.parse(args.database).scheme == "postgresql":
            migrate.upgrade(args.database)  # a user added before the first serve needs the schema
        store = Store(args.database or args.data_dir / "vitalwatch.sqlite3")
    except (storage.BadDatabaseURL, storage.DatabaseError) as e:  # neither shows a password
        print(f"vitalwatch: the database: {e}", file=sys.stderr)
        return 2
    accounts, audit = Accounts(store.db), Audit(store.db)
    actor = f"cli:{getpass.getuser()}"
    try:
        if args.command == "user" and args.action == "sites":
            old_sites, new_sites = accounts.set_user_sites(args.name, args.sites)
            audit.record(time.time(), actor, "user_sites_changed", args.name,
                         old={"sites": list(old_sites)}, new={"sites": list(new_sites)})
            print(f"user {args.name}: {', '.join(new_sites) or 'the default site'}")
        elif args.command == "user":
            if sys.stdin.isatty():
                password = getpass.getpass(f"password for {args.name}: ")
                if getpass.getpass("again: ") != password:
                    print("vitalwatch: the passwords differ", file=sys.stderr)
                    return 2
            else:
                password = sys.stdin.readline().rstrip("\n")
            accounts.add_user(args.name, args.role, password, time.time(), granted=args.sites)
            audit.record(time.time(), actor, "user_added", args.name,
                         new={"role": args.role, **({"sites": list(args.sites)} if args.sites else {})})
            print(f"user {args.name} added ({args.role})")
        elif args.action == "add":
            token = accounts.add_device(args.name, time.time(), args.rooms or (), args.any_room,
                                        site=args.site)
            bound = accounts.device_binding(args.name)
            audit.record(time.time(), actor, "device_added", args.name,
                         new={**bound.to_json(), "site": accounts.device_site(args.name)} if bound else None)
            print(token)
        elif args.action == "rooms":
            old, new = accounts.set_device_rooms(args.name, args.rooms or (), args.any_room)
            audit.record(time.time(), actor, "device_rooms_changed", args.name, old=old.to_json(),
                         new=new.to_json())
            print(f"device {args.name}: {_rooms_text(new)} (was {_rooms_text(old)})")
        elif args.action == "list":
            for d in accounts.devices():
                state = "revoked" if d["revoked"] else "demo" if d["demo"] else "active"
                rooms = "any room" if d["any_room"] else ", ".join(d["rooms"]) or "no room"
                print(f"{d['name']}\t{state}\t{rooms}\tsite {d['site']}")
        else:
            accounts.revoke_device(args.name, time.time())
            audit.record(time.time(), actor, "device_revoked", args.name)
            print(f"device {args.name} revoked")
    except AccountError as e:
        print(f"vitalwatch: {e}", file=sys.stderr)
        return 2
    finally:
        store.close()
    return 0


def _rooms_text(bound: Binding) -> str:
    return "any room" if bound.any_room else ", ".join(bound.rooms) or "no room"


def _sim_source(args: argparse.Namespace) -> Any:
    """The paced source of ``monitor sim``; ValueError names the argument that is wrong."""
    import time

    from monitors import basic_sim
    from monitors.adapter import Identity, Paced

    if not args.minutes > 0:
        raise ValueError(f"--minutes must be positive, got {args.minutes:g}")
    if not args.speed > 0:
        raise ValueError(f"--speed must be positive, got {args.speed:g}")
    try:
        skip_s = mmss(args.skip)
    except ValueError:
        raise ValueError(f"--from must be MM:SS, got {args.skip!r}") from None
    monitor_id = args.monitor_id or f"sim-{args.room.replace(' ', '-').lower()}"
    if args.profile:
        if args.profile not in basic_sim.PROFILES:
            raise ValueError(f"unknown --profile {args.profile!r} "
                             f"(known: {', '.join(basic_sim.PROFILES)})")
        model = f"test-pattern/{args.profile}"
        records = basic_sim.records(args.profile, args.seed, time.time(), args.minutes,
                                    args.waveforms, ramp_s=args.ramp)
    else:
        from monitors.simulator import generate

        pre_dose = args.pre_dose
        if pre_dose is None:
            pre_dose = SIM_PRE_DOSE_MIN if args.minutes > SIM_PRE_DOSE_MIN else args.minutes / 2
        elif not 0 <= pre_dose < args.minutes:
            raise ValueError(f"--pre-dose must be at least 0 and less than --minutes "
                             f"({args.minutes:g}), got {pre_dose:g}")
        model = f"simulator/{args.scenario}"
        _, records = generate(args.scenario, args.seed, minutes=args.minutes,
                              waveforms=args.waveforms, start=time.time(),
                              pre_dose_minutes=pre_dose)
        log.info("simulating %g min of %s, dose at minute %g", args.minutes, args.scenario, pre_dose)
    identity = Identity(monitor_id, args.room, args.mode, vendor="vitalwatch", model=model)
    return Paced(identity, records, args.speed, skip_s=skip_s)


async def _monitor_sim(args: argparse.Namespace) -> int:
    from monitors.uplink import Uplink

    try:
        source = _sim_source(args)
    except ValueError as e:
        print(f"vitalwatch monitor sim: {e}", file=sys.stderr)
        return 2
    await Uplink(args.server, source, token=args.token).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
