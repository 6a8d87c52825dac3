"""The report's charts exported as SVG by plotly's kaleido, through one browser kept open for the
server process.

Theory of operation: kaleido draws a figure in a headless Chromium it drives over a pipe.
Starting that browser costs seconds (measured 1.5-6 s with Debian's chromium), one export
~0.1 s; so the browser is started once, on the first chart asked for, and kept until
``close``. It lives on an event loop of its own, in a thread of its own: nothing kaleido or the
browser does (or fails to do) can block the server's loop, and every wait on it is bounded
(``START_TIMEOUT_S``, ``EXPORT_TIMEOUT_S``). A failure of any kind gives a ``Chart`` that says
"trend chart unavailable: <reason>" instead of the chart, is logged and counted
(``status()``, shown by /api/health), and discards the browser: the next chart starts a new one.

The browser is ``BROWSER_PATH`` when set (the variable kaleido's browser driver, choreographer,
reads too), else ``chromium`` on the PATH (Debian's package; ``make run`` installs it).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

from app.report.chart import Chart, figure
from app.report.model import SessionReport

log = logging.getLogger("vitalwatch.report.chart")
T = TypeVar("T")

START_TIMEOUT_S = 30.0  # a browser start on a loaded 2-core machine took up to 6 s
EXPORT_TIMEOUT_S = 10.0  # one export takes ~0.1 s
CLOSE_TIMEOUT_S = 5.0


class ChartUnavailable(Exception):
    """The chart could not be exported; ``str()`` is the reason shown in its place."""


def browser_path() -> str | None:
    return os.environ.get("BROWSER_PATH") or shutil.which("chromium")


class Exporter:
    """Exports figures as SVG through one persistent browser. Thread-safe: exports are taken one
    at a time (the browser has one tab); a caller waits at most for the export before it."""

    def __init__(self, path: str | None = None, start_timeout_s: float = START_TIMEOUT_S,
                 export_timeout_s: float = EXPORT_TIMEOUT_S) -> None:
        self.path = path if path is not None else browser_path()
        self.start_timeout_s = start_timeout_s
        self.export_timeout_s = export_timeout_s
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._kaleido: Any = None  # kaleido.Kaleido, once started
        self.exported = 0
        self.failed = 0
        self.starts = 0
        self.start_s: float | None = None  # how long the last browser start took
        self.last_error: str | None = None
        self.last_error_at: float | None = None

    def status(self) -> dict[str, Any]:
        """For /api/health: the browser's state, exports done and failed, the last failure."""
        return {"browser": self.path, "running": self._kaleido is not None, "starts": self.starts,
                "start_s": self.start_s, "exported": self.exported, "failed": self.failed,
                "last_error": self.last_error, "last_error_at": self.last_error_at}

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._loop.run_forever, name="chart-export", daemon=True)
            self._thread.start()
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    async def _open(self) -> Any:
        import kaleido  # imported on the first chart: a server that prints no report never loads it

        # No MathJax: the charts have no formulas, and its default is fetched from a CDN, which a
        # clinic's network may not reach.
        k = kaleido.Kaleido(path=self.path, headless=True, mathjax=False, timeout=self.export_timeout_s)
        self._kaleido = k  # so that a start which times out can still be closed
        await k.open()
        return k

    def _start(self) -> None:
        self.starts += 1  # attempts, failed ones included
        if self.path is None:
            raise ChartUnavailable("no browser: chromium is not installed and BROWSER_PATH is not set")
        # Said here, plainly: kaleido's own message would advise downloading a browser.
        if not (os.path.isfile(self.path) and os.access(self.path, os.X_OK)):
            raise ChartUnavailable(f"no browser at {self.path} (install Debian's chromium, or set BROWSER_PATH)")
        started = time.perf_counter()
        try:
            self._run(self._open(), self.start_timeout_s)
        except TimeoutError:
            raise ChartUnavailable(f"the browser {self.path} did not start within "
                                   f"{self.start_timeout_s:g} s") from None
        except Exception as e:
            raise ChartUnavailable(f"the browser {self.path} could not be started "
                                   f"({type(e).__name__}: {_first_line(e)})") from e
        self.start_s = round(time.perf_counter() - started, 2)
        log.info("chart export: browser %s started in %.1f s", self.path, self.start_s)

    def _discard(self) -> None:
        k, self._kaleido = self._kaleido, None
        if k is None:
            return
        try:
            self._run(k.close(), CLOSE_TIMEOUT_S)
        except Exception:  # the browser is gone or wedged either way; a new one is started next time
            log.warning("chart export: the browser did not close cleanly; killing it", exc_info=True)
            _kill(getattr(k, "subprocess", None))

    def svg(self, fig: dict[str, Any]) -> str:
        """The figure as SVG text. Blocking, bounded; raises ChartUnavailable with the reason."""
        if not self._lock.acquire(timeout=self.start_timeout_s + self.export_timeout_s):
            raise ChartUnavailable("the chart exporter is busy: the export before did not finish")
        try:
            try:
                if self._kaleido is None:
                    self._start()
                try:
                    body = self._run(self._kaleido.calc_fig(fig, opts={"format": "svg"}),
                                     self.export_timeout_s)
                except TimeoutError:
                    raise ChartUnavailable(f"the export took longer than {self.export_timeout_s:g} s") from None
                except Exception as e:
                    raise ChartUnavailable(f"the export failed ({type(e).__name__}: {_first_line(e)})") from e
                text = body.decode() if isinstance(body, bytes) else str(body)
                if not text.lstrip().startswith("<svg"):
                    raise ChartUnavailable("the export gave no SVG")
            except ChartUnavailable as e:
                self.failed += 1
                self.last_error, self.last_error_at = str(e), time.time()
                log.error("chart export failed: %s", e, exc_info=e.__cause__ is not None)
                self._discard()
                raise
            self.exported += 1
            return text
        finally:
            self._lock.release()

    def chart(self, report: SessionReport) -> Chart:
        """The report's trend chart, or a note saying why there is none. Blocking, bounded."""
        fig = figure(report)
        if fig is None:
            return Chart(note="no readings stored")
        try:
            return Chart(svg=self.svg(fig))
        except ChartUnavailable as e:
            return Chart(note=f"trend chart unavailable: {e}", unavailable=True)

    async def chart_async(self, report: SessionReport) -> Chart:
        """``chart`` from a worker thread: the server's loop never waits on the browser."""
        return await asyncio.to_thread(self.chart, report)

    def close(self) -> None:
        """Close the browser and stop the exporter's thread; a later chart starts them again."""
        with self._lock:
            self._discard()
            if self._loop is not None:
                with contextlib.suppress(Exception):
                    self._run(_cancel_pending(), CLOSE_TIMEOUT_S)
            loop, self._loop = self._loop, None
            if loop is not None and self._thread is not None:
                loop.call_soon_threadsafe(loop.stop)
                self._thread.join(CLOSE_TIMEOUT_S)
                if not self._thread.is_alive():
                    loop.close()
                self._thread = None


async def _cancel_pending() -> None:
    """Cancel what is left on the exporter's loop (a start or close abandoned on its bound)."""
    me = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not me]
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _kill(proc: subprocess.Popen[bytes] | None) -> None:
    """Kill a browser that would not close, with its children (it runs in a session of its own)."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(CLOSE_TIMEOUT_S)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else "no message"
