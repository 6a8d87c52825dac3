"""The FastAPI application: ingest and live websockets, the REST API, the dashboard pages."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import plotly
from fastapi import Depends, FastAPI, WebSocket
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from alerts import rules as rules_mod
from alerts.delivery import config as channels_mod
from app import ack, admin, api, health, live, login, push, roster_api, storage
from app.accounts import Accounts, Login
from app.ack_link import AckLinks, load_key
from app.audit import Audit
from app.bus import Bus
from app.delivery import SENDER_FACTORIES, DeliveryService
from app.delivery_channels import CHANNEL_FACTORIES
from app.heap import Heap
from app.hub import Hub
from app.ingest import ingest
from app.lease import Leases
from app.pipeline import Pipeline
from app.report import api as report_api
from app.report.exporter import Exporter
from app.roster import Roster
from app.security import Security, SecurityHeaders, page
from app.sites import DEFAULT_SITE
from app.storage import Database, migrate, partitions
from app.store import Store

log = logging.getLogger("vitalwatch.server")

FRONTEND = Path(__file__).resolve().parent.parent / "frontend"
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
SUPERVISE_EVERY_S = 1.0
PARTITIONS_EVERY_S = 3600.0


@dataclass
class Settings:
    data_dir: Path = Path("data")
    rules: Path | None = None
    fsync: bool = False
    demo: bool = False
    idle_timeout_s: float = 7200.0
    tls: bool = False
    allowed_origins: tuple[str, ...] = ()
    channels: Path | None = None  # the channels file (alerts/delivery/config.py)
    public_url: str = "http://127.0.0.1:8000"  # where acknowledge links point
    bus: str | None = None  # the bus between instances, redis://host:port/db (app/bus.py)
    instance_id: str = ""  # this instance's name on the bus (default: host name and process id)
    # The database (app/storage/): sqlite:///path or postgresql://user:password@host:port/name;
    # default: the SQLite file in the data dir.
    database: str | None = None
    # The clinic's default site (app/sites.py): the site of devices registered without one, and
    # the one site a user without a grant sees.
    default_site: str = DEFAULT_SITE


def create_app(settings: Settings) -> FastAPI:
    # Load the rules before anything else: a bad rules file must stop the server at start-up,
    # never leave it running without some of its alarms.
    ruleset = rules_mod.load(settings.rules)
    # So must a bad channels file: a server that cannot reach its alarm manager must not run
    # believing it can.
    channels = channels_mod.load(settings.channels)
    # A bad database URL or an unreachable database stops the server (BadDatabaseURL,
    # DatabaseError), with a message that never shows the password.
    store = Store(open_database(settings), fsync=settings.fsync)
    hub = Hub()
    instance_id = settings.instance_id or f"{socket.gethostname()}-{os.getpid()}"
    # On a store shared by several instances each session runs on the one holding its lease
    # (app/lease.py); the holder is this run of this instance, so a restart is a new holder.
    leases = (Leases(store.db, f"{instance_id}/{uuid.uuid4().hex[:8]}")
              if store.db.dialect != "sqlite" else None)
    pipeline = Pipeline(store, hub, ruleset, time.time(), leases=leases,
                        default_site=settings.default_site)
    pipeline.started(time.time())
    security = Security(Accounts(store.db, settings.default_site), Audit(store.db), demo=settings.demo,
                        idle_timeout_s=settings.idle_timeout_s, tls=settings.tls,
                        allowed_origins=settings.allowed_origins)
    push_settings = channels.push or channels_mod.load(None).push
    assert push_settings is not None  # without a channels file, the nurse view's push is on
    roster = Roster(store.db)
    links = AckLinks(store.db, load_key(Path(settings.data_dir)))
    devices = push.Devices(store.db, push.vapid_key(Path(settings.data_dir)), push_settings.subject,
                           ruleset.delivery)
    # Each channel module's sender factory (``setdefault``: a factory registered before, e.g. a
    # test's own channel, stays); the nurses' installed views are reached through ``devices``.
    for channel, factory in CHANNEL_FACTORIES.items():
        SENDER_FACTORIES.setdefault(channel, factory)
    delivery = DeliveryService(pipeline, channels, Path(settings.data_dir), settings.public_url, links,
                               devices=devices)
    devices.sink = delivery
    # The report's chart export: its browser starts on the first report, not here (most servers
    # never print one, and a start costs seconds of CPU).
    charts = Exporter()
    # A bad bus URL stops the server too: an instance meant to be on the bus must not run alone.
    bus = Bus(settings.bus, instance_id, pipeline) if settings.bus else None
    if bus is None:
        # An alarm of the bus (N1) still open from a run on the bus ends: there is none now.
        pipeline.cluster_signal(False, time.time())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store.start_checkpointer()
        tasks = [asyncio.create_task(_supervise(pipeline)),
                 asyncio.create_task(_keep_partitions(store.db)),
                 asyncio.create_task(push.keep_alive(devices, lambda user, t: len(roster.rooms_of(user, t))))]
        await delivery.start()
        if bus is not None:
            await bus.start()
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if bus is not None:
                await bus.close()
            if leases is not None:
                # Stopping on purpose (an upgrade, a move): the others take its sessions at once,
                # not after the leases expire.
                store.flush()
                leases.release_all()
            await delivery.close()
            await asyncio.to_thread(charts.close)
            store.close()

    # No public OpenAPI pages: every route needs a login, and the API is documented in docs/.
    app = FastAPI(title="vitalwatch", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.pipeline = pipeline
    app.state.security = security
    app.state.roster = roster
    app.state.push = devices
    app.state.delivery = delivery
    app.state.charts = charts
    app.state.bus = bus
    app.state.settings = settings
    app.state.started = time.time()

    @app.websocket("/ws/ingest")
    async def ws_ingest(ws: WebSocket) -> None:
        await ingest(ws, pipeline, security)

    @app.websocket("/ws/live")
    async def ws_live(ws: WebSocket) -> None:
        if (who := await security.websocket_login(ws, "view_live")) is not None:
            await live.serve(ws, pipeline, security, who.sites)

    app.include_router(api.router)
    app.include_router(ack.router)
    app.include_router(login.router)
    app.include_router(admin.router)
    app.include_router(roster_api.router)
    app.include_router(report_api.router)
    app.include_router(push.router)
    app.include_router(health.router)

    def html(name: str, permission: str):
        needs = page(permission)  # outside the annotation: annotations are strings here

        async def serve_page(who: Login = Depends(needs)) -> FileResponse:  # noqa: B008
            return FileResponse(FRONTEND / name)

        return serve_page

    app.get("/", include_in_schema=False)(html("index.html", "view_live"))
    app.get("/nurse", include_in_schema=False)(html("nurse.html", "view_live"))
    app.get("/room/{session_id}", include_in_schema=False)(html("room.html", "view_history"))
    app.get("/replay/{session_id}", include_in_schema=False)(html("replay.html", "view_history"))
    app.get("/admin", include_in_schema=False)(html("admin.html", "manage_users"))
    app.get("/sessions", include_in_schema=False)(html("sessions.html", "view_history"))
    app.get("/roster", include_in_schema=False)(html("roster.html", "manage_roster"))
    app.get("/course/{label}", include_in_schema=False)(html("course.html", "view_history"))

    @app.get("/login", include_in_schema=False)
    async def login_page() -> FileResponse:
        return FileResponse(FRONTEND / "login.html")

    @app.get("/static/vendor/plotly.min.js", include_in_schema=False)
    async def plotly_js() -> FileResponse:
        # plotly.js comes from the installed plotly package: pinned with it, and never a CDN,
        # because a clinic network may be offline.
        return FileResponse(PLOTLY_JS, media_type="text/javascript")

    @app.get("/sw.js", include_in_schema=False)
    async def service_worker() -> FileResponse:
        # At the root, so that its scope covers /nurse; program code only, never patient data.
        return FileResponse(FRONTEND / "sw.js", media_type="text/javascript")

    app.mount("/static", StaticFiles(directory=FRONTEND), name="static")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> RedirectResponse:
        return RedirectResponse("/static/favicon.svg")

    return app


def open_database(settings: Settings) -> Database:
    """The server's database: PostgreSQL is migrated to the latest schema first, and its
    readings' monthly partitions made ahead (``app/storage/partitions.py``)."""
    url = settings.database or storage.sqlite_url(Path(settings.data_dir) / "vitalwatch.sqlite3")
    parsed = storage.parse(url)
    if parsed.scheme == "sqlite":
        return storage.connect(url, fsync=settings.fsync)
    revision = migrate.upgrade(parsed.url)
    db = storage.connect(parsed.url)
    made = partitions.ensure_months(db, time.time())
    log.info("database %s at revision %s%s", parsed, revision,
             f"; partitions made: {', '.join(made)}" if made else "")
    return db


async def _keep_partitions(db: Database) -> None:
    """On PostgreSQL, the months ahead are made before their readings arrive, however long the
    server runs (any that arrive first wait in the default partition and are moved)."""
    if db.dialect != "postgresql":
        return
    while True:
        await asyncio.sleep(PARTITIONS_EVERY_S)
        try:
            partitions.ensure_months(db, time.time())
        except storage.DatabaseError as e:  # unreachable for now: the next round makes them
            log.warning("could not make the readings' partitions ahead: %s", e)


async def _supervise(pipeline: Pipeline) -> None:
    heap = Heap()
    while True:
        now = time.time()
        try:
            pipeline.supervise(now)
        except Exception:  # the supervisor must outlive any one bad session
            log.exception("supervision failed")
        heap.tend(now)
        await asyncio.sleep(SUPERVISE_EVERY_S)


async def run(app: FastAPI, host: str, port: int, certfile: str | None = None,
              keyfile: str | None = None) -> None:
    """Serve ``app`` until interrupted. Frames above 1 MiB are refused by the websocket layer
    itself (close code 1009); ingest refuses anything above its own, smaller limit politely."""
    import uvicorn

    # The security headers wrap the whole application, so that even an error page (answered by
    # Starlette's outermost error handler) carries them.
    config = uvicorn.Config(SecurityHeaders(app, tls=bool(certfile)), host=host, port=port, ws_max_size=2**20, log_level="warning",
                            ws_ping_interval=5, ws_ping_timeout=10,
                            ssl_certfile=certfile, ssl_keyfile=keyfile,
                            server_header=False,  # no software name or version on any answer
                            # A stuck dashboard must not hold up a restart.
                            timeout_graceful_shutdown=3)
    await uvicorn.Server(config).serve()
