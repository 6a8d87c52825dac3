"""Scale-out: 1, 2 and 3 vitalwatch instances behind HAProxy, at 64, 256 and 1,000 rooms, against
the bare relay of the same run.

Each configuration runs what ``bench/latency.py`` runs (the same monitors, dashboards, windows and
counting, its ``run_one``), with the server under test being a cluster on this machine: Debian's
PostgreSQL (one database shared by the instances; ``--store sqlite``: a file each), Debian's
``redis-server`` (the bus), K ``vitalwatch serve --bus`` instances and HAProxy in front of them
configured by ``app.balancer`` as ``docs/deploy.md`` deploys it. Monitors
and dashboards connect through HAProxy: monitors are spread over the instances (least
connections), each dashboard stays on the instance it logged in to (HAProxy's cookie) and sees
the other instances' rooms through the bus. Latency is from the monitor's send to the dashboard's
receive, whichever instances the message crossed. The server's CPU and memory are summed over
the instances, Redis, HAProxy and PostgreSQL.

    .venv/bin/python bench/scale.py                                  # 64,256,1000 rooms × 1,2,3 instances
    .venv/bin/python bench/scale.py --monitors 64 --instances 1,3 --seconds 10
    .venv/bin/python bench/scale.py --monitors 1000 --no-waveforms   # numerics only
    .venv/bin/python bench/scale.py --monitors 64 --instances 2 --pause-bus 2   # loses messages: exits 1

Prints a Markdown table (rooms × instances: p50/p99 per class and kind, ÷ relay, loss, CPU) and
writes every number to ``bench/results/scale-<time>.json``. The exit status is 1 if any message
was lost, so that a cluster that drops messages fails the run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

import latency  # noqa: E402 - after the sys.path change above

from app.balancer import Backend, BalancerConfig, haproxy_executable  # noqa: E402
from app.storage.local_postgres import LocalPostgres  # noqa: E402


class Cluster:
    """Redis, ``instances`` vitalwatch servers on it and HAProxy, with ``latency.Server``'s face:
    ``ws``/``http`` (HAProxy's), ``tokens``, ``provision``, ``start``, ``login_headers``,
    ``processes``, ``counters``, ``stop``, ``log_problems``, ``instrumentation``."""

    def __init__(self, instances: int, workdir: Path, source: Path, pause_bus: tuple[float, float] | None = None,
                 database: str | None = None, postgres_pid: int | None = None) -> None:
        self.system = f"vitalwatch ×{instances}"
        self.workdir = workdir
        self.database = database  # PostgreSQL shared by the instances; None: a SQLite store each
        self.postgres_pid = postgres_pid
        self.redis_port = latency.free_port()
        self.port = latency.free_port()
        bus = ("--bus", f"redis://127.0.0.1:{self.redis_port}/0")
        env = {"VITALWATCH_DATABASE": database} if database else {}
        self.instances = [latency.Server("vitalwatch", workdir / f"instance-{k}", source=source, env=env,
                                         extra_args=(*bus, "--instance-id", f"i{k}")) for k in range(instances)]
        self.tokens: dict[int, str] | None = None
        self.redis: subprocess.Popen | None = None
        self.haproxy: subprocess.Popen | None = None
        self.pause_bus = pause_bus  # (seconds after start, for how long): Redis stopped, to show a loss

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def provision(self, monitors: int) -> None:
        """The dashboards' login and the monitors' tokens: once in the shared store, or the same
        values in each instance's own."""
        for server in self.instances:
            server.workdir.mkdir(parents=True, exist_ok=True)
            if self.database and self.tokens:
                server.tokens, server.authenticated = self.tokens, True
                continue
            server.provision(monitors, self.tokens, self.database)
            self.tokens = self.tokens or server.tokens

    def start(self) -> Cluster:
        exe = shutil.which("redis-server")
        if not exe or not haproxy_executable():
            raise RuntimeError("redis-server and haproxy are needed: `make test` installs Debian's")
        redis_dir = self.workdir / "redis"
        redis_dir.mkdir(parents=True, exist_ok=True)
        self.redis = subprocess.Popen([exe, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
                                       "--appendonly", "no", "--dir", str(redis_dir)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        for server in self.instances:
            server.start()
        config = BalancerConfig(bind_port=self.port, maxconn=8192, backends=tuple(
            Backend(name=f"i{k}", port=s.port) for k, s in enumerate(self.instances)))
        cfg = self.workdir / "haproxy.cfg"
        cfg.write_text(config.render(), encoding="utf-8")
        with open(self.workdir / "haproxy.log", "ab") as log:
            self.haproxy = subprocess.Popen([str(haproxy_executable()), "-db", "-f", str(cfg)], stdout=log,
                                            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.http + "/readyz", timeout=1).status_code == 200:
                    if self.pause_bus:
                        threading.Timer(self.pause_bus[0], self._freeze_redis, (self.pause_bus[1],)).start()
                    return self
            time.sleep(0.1)
        raise RuntimeError(f"the cluster was not ready within 60 s: {(self.workdir / 'haproxy.log').read_text()}")

    def _freeze_redis(self, seconds: float) -> None:
        if self.redis is None or self.redis.poll() is not None:
            return
        self.redis.send_signal(signal.SIGSTOP)
        time.sleep(seconds)
        self.redis.send_signal(signal.SIGCONT)

    def login_headers(self) -> dict[str, str]:
        """A login through HAProxy, with HAProxy's cookie: the dashboard's websocket then reaches the
        instance that holds its login."""
        r = httpx.post(self.http + "/api/login", json={"name": latency.BENCH_USER,
                                                       "password": latency.BENCH_PASSWORD}, timeout=30)
        r.raise_for_status()
        return {"Cookie": f"vw_session={r.cookies['vw_session']}; vw_csrf={r.cookies['vw_csrf']}; "
                          f"vitalwatch-instance={r.cookies['vitalwatch-instance']}"}

    def processes(self) -> list[psutil.Process]:
        """The instances, Redis, HAProxy and PostgreSQL with its backends."""
        procs = [p for s in self.instances for p in s.processes()]
        procs += [psutil.Process(p.pid) for p in (self.redis, self.haproxy) if p is not None]
        if self.postgres_pid is not None:
            postmaster = psutil.Process(self.postgres_pid)
            procs += [postmaster, *postmaster.children(recursive=True)]
        return procs

    def counters(self) -> dict[str, Any]:
        per = [s.counters() for s in self.instances]
        total: dict[str, Any] = {"per_instance": per}
        for key in ("monitors", "accepted", "duplicates", "refused"):
            total[key] = sum(c.get(key, 0) or 0 for c in per)
        return total

    def log_problems(self) -> list[str]:
        return [line for s in self.instances for line in s.log_problems()]

    def instrumentation(self, t0: float) -> None:  # bench/latency.py's --instrument: not for a cluster
        return None

    def stop(self) -> None:
        if self.haproxy is not None and self.haproxy.poll() is None:
            self.haproxy.terminate()
            self.haproxy.wait(timeout=30)
        for server in self.instances:
            server.stop()
        if self.redis is not None and self.redis.poll() is None:
            self.redis.terminate()
            self.redis.wait(timeout=30)


def start_postgres(root: Path) -> LocalPostgres:
    """Debian's PostgreSQL for the run, on a free port, fsync on (what an acknowledgement means)."""
    return LocalPostgres(root, latency.free_port(), password=secrets.token_urlsafe(16)).init().start()


def table(rows: list[dict[str, Any]], relay: dict[int, dict[str, Any]]) -> str:
    cols = ["Rooms", "Instances", "Dashboards", "numerics p50 / p99 (ms)", "÷ relay", "waveform p50 / p99 (ms)",
            "÷ relay", "lost", "ingested msg/s", "CPU (all parts)", "CPU per message"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(["---"] * len(cols)) + "|"]
    for s in rows:
        b = relay.get(s["monitors"])
        for cls, c in s["classes"].items():
            lat = c["latency_ms"]
            floor = b["classes"][cls]["latency_ms"] if b else {}
            cells = []
            for kind in latency.DATA_TYPES:
                if kind not in lat:
                    cells += ["–", "–"]
                    continue
                cells.append(f"{latency._ms(lat[kind]['p50'])} / {latency._ms(lat[kind]['p99'])}")
                f = floor.get(kind)
                cells.append(f"{latency._ratio(lat[kind]['p50'], f['p50'])} / {latency._ratio(lat[kind]['p99'], f['p99'])}"
                             if f else "–")
            lines.append(f"| {s['monitors']} | {s['system']} | {c['views']} {cls} | " + " | ".join(cells)
                         + f" | {sum(c['lost'].values())} | {s['ingested_per_s']:.0f} | {s['server_cpu_pct']:.0f} % "
                           f"| {s['server_cpu_ms_per_msg']:.3f} ms |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="vitalwatch on 1-3 instances behind HAProxy, against a bare relay.")
    p.add_argument("--monitors", default="64,256,1000", help="comma-separated numbers of rooms (default 64,256,1000)")
    p.add_argument("--instances", default="1,2,3", help="comma-separated numbers of instances (default 1,2,3)")
    p.add_argument("--central", type=int, default=2, help="central stations (default 2)")
    p.add_argument("--nurses", type=int, default=8, help="nurse views (default 8)")
    p.add_argument("--seconds", type=float, default=15, help="measured seconds per configuration (default 15)")
    p.add_argument("--warmup", type=float, default=3, help="seconds of load before measuring (default 3)")
    p.add_argument("--drain", type=float, default=3, help="seconds before an undelivered message is lost (default 3)")
    p.add_argument("--load-procs", type=int, default=2, help="processes the monitors are spread over (default 2)")
    p.add_argument("--no-waveforms", action="store_true", help="numerics only (always for --waveform-max and above)")
    p.add_argument("--waveform-max", type=int, default=256,
                   help="above this many rooms the monitors send numerics only: 1,000 rooms of 125 Hz PLETH are "
                        "more than a 2-core machine generates and serves at once (default 256)")
    p.add_argument("--settle", type=float, default=30, help="wait up to this long for a quiet machine (default 30)")
    p.add_argument("--quiet", type=float, default=50, help="quiet: less than this %% of one core (default 50)")
    p.add_argument("--json", type=Path, help="default bench/results/scale-<time>.json")
    p.add_argument("--py-spy", metavar="PATH", help="sample the first instance during each window with this py-spy "
                                                     "(bench/latency.py's --py-spy)")
    p.add_argument("--store", choices=("postgresql", "sqlite"), default="postgresql",
                   help="postgresql: one database shared by the instances, as docs/deploy.md deploys them "
                        "(Debian's, started for the run); sqlite: a store of each instance's own (default postgresql)")
    p.add_argument("--pause-bus", type=float, metavar="SECONDS",
                   help="a worse cluster, to show that the run can fail: Redis is stopped (SIGSTOP) for this "
                        "long in the middle of each measured window; messages between instances are lost")
    args = p.parse_args(argv)
    # run_one reads these settings of bench/latency.py's.
    args.source, args.instrument = BENCH.parent, False
    args.slow_commit, args.no_group_commits = None, False
    counts = [int(x) for x in args.monitors.split(",") if x.strip()]
    sizes = [int(x) for x in args.instances.split(",") if x.strip()]
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(tempfile.mkdtemp(prefix=f"vitalwatch-scale-{stamp}-"))
    base.chmod(0o755)  # PostgreSQL, run as its own user, keeps its cluster in here
    postgres = start_postgres(base / "postgres") if args.store == "postgresql" else None
    out_json = args.json or BENCH / "results" / f"scale-{stamp}.json"
    out_json.parent.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    relay: dict[int, dict[str, Any]] = {}
    waves_of: dict[int, bool] = {}
    try:
        for n in counts:
            waves = not args.no_waveforms and n <= args.waveform_max
            waves_of[n] = waves
            views = latency.dashboard_views(n, args.central, args.nurses, waves)
            run_args = argparse.Namespace(**{**vars(args), "no_waveforms": not waves})
            for k in [0, *sizes]:  # 0: the relay, first
                workdir = base / f"{n}-{k}"
                workdir.mkdir(parents=True)
                what = "relay" if k == 0 else f"{k} instance(s)"
                print(f"[{time.strftime('%H:%M:%S')}] {n} rooms, {what}, {'with' if waves else 'no'} waveforms",
                      file=sys.stderr, flush=True)
                if k == 0:
                    r = latency.run_one("relay", n, views, run_args, workdir)
                    relay[n] = latency.summarise([r])
                    continue
                # Start-up, logins and connecting take a few seconds before the window's warm-up.
                pause = (args.warmup + 3 + args.seconds / 2, args.pause_bus) if args.pause_bus else None
                database = postgres.add_database(f"scale_{n}_{k}") if postgres else None
                cluster = Cluster(k, workdir, BENCH.parent, pause, database, postgres.pid() if postgres else None)
                cluster.provision(n)
                r = latency.run_one(cluster.system, n, views, run_args, workdir, server=cluster)
                s = latency.summarise([r])
                s["instances"] = k
                rows.append(s)
                print(f"    lost {s['lost']}, CPU {s['server_cpu_pct']:.0f} %, "
                      f"{s['server_cpu_ms_per_msg']:.3f} ms a message, errors {s['errors']}, "
                      f"disconnects {s['monitor_disconnects']} / {s['dashboard_disconnects']}",
                      file=sys.stderr, flush=True)
    finally:
        if postgres is not None:
            postgres.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)
    meta = {"date": dt.datetime.now().astimezone().isoformat(timespec="seconds"), **latency._version(BENCH.parent),
            "argv": sys.argv[1:], "waveforms": waves_of, "store": args.store}
    out_json.write_text(json.dumps({"meta": meta, "relay": relay, "rows": rows}, indent=1))
    print(f"Scale-out, vitalwatch {meta['commit']}, {meta['date']}: {args.central} central stations + "
          f"{args.nurses} nurse views through HAProxy, store {args.store}, {args.seconds:g} s per configuration; "
          "waveforms at "
          + ", ".join(f"{n} rooms: {'yes' if w else 'no'}" for n, w in waves_of.items()) + ".\n")
    print(table(rows, relay))
    lost = [(s["monitors"], s["instances"], s["lost"]) for s in rows if s["lost"]]
    for n, k, count in lost:
        print(f"\n{n} rooms on {k} instance(s): {count} messages lost")
    print(f"\nresults: {out_json}", file=sys.stderr)
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
