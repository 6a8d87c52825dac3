"""TLS: `vitalwatch serve --certfile --keyfile` serves HTTPS and secure websockets, sends HSTS,
and does not speak plain HTTP on the same port."""

from __future__ import annotations

import json
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from tests.conftest import ROOT, Server, free_port, password, seconds


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A throw-away certificate for 127.0.0.1 and localhost."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    try:
        from cryptography import x509  # noqa: F401 - use it where it is installed
    except ImportError:
        openssl = shutil.which("openssl")
        if openssl is None:
            pytest.fail("neither the cryptography package nor the openssl command is available")
        subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                        "-keyout", str(key), "-out", str(cert)],
                       check=True, capture_output=True, timeout=seconds(30))
        return cert, key
    return _with_cryptography(cert, key)


def _with_cryptography(cert: Path, key: Path) -> tuple[Path, Path]:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(private.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                    x509.DNSName("localhost")]), critical=False)
        .sign(private, hashes.SHA256())
    )
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return cert, key


class TLSServer(Server):
    """The shared Server, started with a certificate and checked over HTTPS."""

    cert: Path

    @property
    def https(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> TLSServer:
        # Accounts as the plain fixture makes them; its HTTP health check cannot work here.
        self.data_dir.mkdir(parents=True, exist_ok=True)
        from app.accounts import Accounts
        from app.store import Store

        store = Store(self.data_dir / "vitalwatch.sqlite3")
        Accounts(store.db).add_user("user-nurse", "nurse", password("nurse"), time.time())
        store.db.close()
        cmd = [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port),
               "--data-dir", str(self.data_dir), *self.args]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + seconds(20)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()}")
            try:
                httpx.get(f"{self.https}/api/health", verify=self.context(), timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError(f"server did not start: {self.log.read_text()}")

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSServer]:
    directory = tmp_path_factory.mktemp("tls")
    cert, key = self_signed(directory)
    srv = TLSServer(free_port(), directory / "data", args=("--certfile", str(cert), "--keyfile", str(key)))
    srv.cert = cert
    srv.start()
    try:
        yield srv
    finally:
        srv.kill(signal.SIGTERM)


def test_https_works_and_sends_hsts(tls: TLSServer) -> None:
    """Over HTTPS the certificate verifies, a login works with its Secure cookies, and every
    answer carries Strict-Transport-Security."""
    with httpx.Client(base_url=tls.https, verify=tls.context(), timeout=seconds(10)) as c:
        r = c.get("/login")
        assert r.status_code == 200 and r.url.scheme == "https"
        assert "max-age=" in r.headers["strict-transport-security"]
        r = c.post("/api/login", json={"name": "user-nurse", "password": password("nurse")})
        assert r.status_code == 200 and "strict-transport-security" in r.headers
        assert "secure" in r.headers["set-cookie"].lower()
        r = c.get("/api/rooms")  # the jar sends the Secure cookie back over HTTPS
        assert r.status_code == 200 and r.json() == []
        assert "strict-transport-security" in c.get("/static/style.css").headers


def test_secure_websocket_works_with_the_login(tls: TLSServer) -> None:
    """wss:///ws/live opens with the login's cookie and sends its snapshot."""
    r = httpx.post(f"{tls.https}/api/login", verify=tls.context(), timeout=seconds(10),
                   json={"name": "user-nurse", "password": password("nurse")})
    cookie = f"vw_session={r.cookies['vw_session']}"
    with connect(f"wss://127.0.0.1:{tls.port}/ws/live", ssl=tls.context(), proxy=None,
                 additional_headers={"Cookie": cookie, "Origin": tls.https}) as ws:
        assert json.loads(ws.recv(timeout=seconds(10)))["type"] == "snapshot"


def test_plain_http_and_unverified_certificates_get_nothing(tls: TLSServer) -> None:
    """Plain HTTP on the TLS port gets no page, and a client that checks certificates against the
    system's authorities refuses the self-signed one."""
    try:
        r = httpx.get(f"http://127.0.0.1:{tls.port}/login", timeout=seconds(5))
    except httpx.HTTPError:
        pass  # the connection was dropped
    else:  # or answered with an error, never with the page
        assert r.status_code >= 400 and b"login-form" not in r.content
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{tls.https}/login", timeout=seconds(5))


def test_certfile_without_keyfile_is_refused(tmp_path: Path) -> None:
    """Half a TLS configuration stops the command instead of serving plain HTTP."""
    done = subprocess.run([sys.executable, "-m", "app.cli", "serve", "--port", str(free_port()),
                           "--data-dir", str(tmp_path), "--certfile", str(tmp_path / "cert.pem")],
                          cwd=ROOT, capture_output=True, text=True, timeout=seconds(30), check=False)
    assert done.returncode == 2 and "--keyfile" in done.stderr
