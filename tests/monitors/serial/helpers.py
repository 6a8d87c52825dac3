"""Subprocess helpers for the serial tests: the emulator and the serial adapter as commands."""

from __future__ import annotations

import select
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, Server, seconds


class Process:
    """A ``python -m app.cli`` subprocess whose output goes to a log file."""

    def __init__(self, args: list[str], log: Path, stdout: int | None = None) -> None:
        self.log = log
        with open(log, "ab") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "app.cli", *args], cwd=ROOT,
                                         stdout=stdout if stdout is not None else err, stderr=err)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=seconds(10))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"{self.proc.args} ignored signal {sig}:\n{self.log.read_text()}") from None
        finally:
            if self.proc.stdout:
                self.proc.stdout.close()


class Emulator(Process):
    """``vitalwatch emulate``; ``path`` is the pseudo-terminal it printed first."""

    def __init__(self, protocol: str, log: Path, *args: str) -> None:
        super().__init__(["emulate", protocol, "--seed", "1", *args], log, stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], seconds(15))
        line = self.proc.stdout.readline().decode().strip() if ready else ""
        if not line.startswith("/dev/"):
            self.stop(signal.SIGKILL)
            raise AssertionError(f"the emulator printed no device path:\n{log.read_text()}")
        self.path = line


def monitor(server: Server, port: str, protocol: str, room: str, log: Path) -> Process:
    """``vitalwatch monitor serial`` on ``port``, with the server's device token."""
    monitor_id = f"serial-{protocol}"
    return Process(["monitor", "serial", "--port", port, "--protocol", protocol, "--server",
                    server.ws, "--room", room, "--monitor-id", monitor_id, "--mode", "test",
                    "--token", server.device_token(monitor_id)], log)
