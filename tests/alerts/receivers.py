"""Real receivers for the delivery channels' tests, on free loopback ports: an HTTP server (a
webhook receiver, a ntfy server) and an SMTP server, each recording what it got."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

from alerts.delivery.wire import Notice, Step
from tests.conftest import free_port, seconds


def notice(**changes: object) -> Notice:
    """A high-priority SpO2 alarm raised in room 3 of a live session, told to its primary nurse."""
    values: dict[str, object] = {
        "delivery_id": 41, "alarm_id": 7, "log_id": 12, "event": "raised", "session_id": 3,
        "room": "Room 3", "rule": "spo2_low", "param": "SpO2", "priority": "high",
        "kind": "physiological", "message": "SpO2 86 % below 90 %", "value": 86.0, "limit": 90.0,
        "mode": "live", "step": Step.primary, "recipient": "nurse-ann",
        "decided_server": 1_800_000_000.0, "ack_url": "https://vw.clinic.example/ack/Zm9vYmFy"}
    return Notice.model_validate({**values, **changes})


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    t: float = field(default_factory=time.time)  # when it came, on the receiver's clock


# What the receiver answers a request: (status, body), or None to never answer.
Responder = Callable[[Request], "tuple[int, bytes] | None"]


@dataclass
class HttpReceiver:
    url: str
    requests: list[Request] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)


@contextmanager
def http_receiver(respond: Responder) -> Iterator[HttpReceiver]:
    """An HTTP server answering every request with ``respond``; a request it never answers
    waits until the test ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.daemon_threads = True
    receiver = HttpReceiver(f"http://127.0.0.1:{server.server_address[1]}")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            request = Request("POST", self.path, {k.lower(): v for k, v in self.headers.items()},
                              self.rfile.read(length))
            receiver.requests.append(request)
            answer = respond(request)
            if answer is None:
                receiver.released.wait(seconds(30))
                return
            status, body = answer
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # quiet test output
            pass

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.released.set()
        server.shutdown()
        server.server_close()
        thread.join(seconds(5))


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        content = envelope.content
        self.messages.append(message_from_bytes(content, policy=policy.default))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


@contextmanager
def smtp_receiver() -> Iterator[tuple[int, _Mailbox]]:
    """A plain SMTP server (no TLS, no login) on a free port, and the mailbox it fills."""
    mailbox = _Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, ready_timeout=seconds(10))
    controller.start()
    try:
        yield port, mailbox
    finally:
        controller.stop()
