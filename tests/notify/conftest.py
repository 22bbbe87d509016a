"""Real receivers on loopback: an SMTP server with STARTTLS and login (aiosmtpd), and an HTTP
server that keeps the JSON bodies POSTed to it."""

from __future__ import annotations

import datetime
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

USER, PASSWORD = "nbflow-bot", "s3cret-Pa55"


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class Mailbox:
    """What the SMTP server received, and how to reach it."""

    def __init__(self, port: int, cafile: Path) -> None:
        self.port = port
        self.cafile = cafile
        self.messages: list[Any] = []
        self.logins: list[str] = []

    def config(self, **overrides: Any) -> Any:
        from nbflow.notify.config import NotifyConfig

        values = dict(smtp_host="127.0.0.1", smtp_port=self.port, smtp_cafile=str(self.cafile),
                      smtp_user=USER, smtp_password=PASSWORD, sender="nbflow@example.org")
        values.update(overrides)
        return NotifyConfig(**values)


@pytest.fixture()
def smtp_server(tmp_path: Path) -> Iterator[Mailbox]:
    """aiosmtpd on 127.0.0.1 that requires STARTTLS, then a login, before it takes mail."""
    import email
    import email.policy

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    cert, key = _certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    box = Mailbox(0, cert)

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode(), auth_data.password.decode()) == (USER, PASSWORD)
        if ok:
            box.logins.append(auth_data.login.decode())
        return AuthResult(success=ok, handled=False)

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            box.messages.append(email.message_from_bytes(envelope.content,
                                                         policy=email.policy.default))
            return "250 OK"

    import socket

    with socket.socket() as probe:  # aiosmtpd's ready check cannot use port 0
        probe.bind(("127.0.0.1", 0))
        box.port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=box.port, tls_context=context,
                            require_starttls=True, authenticator=authenticator,
                            auth_required=True, auth_require_tls=True,
                            auth_exclude_mechanism=["LOGIN"])
    controller.start()
    yield box
    controller.stop()


class Receiver:
    """Bodies POSTed to the loopback HTTP server."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self.status = 200
        self.url = ""


@pytest.fixture()
def webhook() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            receiver.bodies.append(json.loads(self.rfile.read(length)))
            self.send_response(receiver.status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/T000/SECRET-TOKEN"
    yield receiver
    server.shutdown()
    server.server_close()
