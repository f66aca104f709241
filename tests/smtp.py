"""A real SMTP server for the tests (aiosmtpd on 127.0.0.1) that records what it
accepts and can be told to refuse, fail for a while, go down, or require STARTTLS."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import signal
import socket
import sqlite3
import ssl
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by itself: (cert.pem, key.pem)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "newswatch test SMTP")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class Handler:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.fail_next: list[str] = []  # responses to give instead of accepting, in order
        self.always: str | None = None  # a response for every message
        self.kill_claimant_of: Path | None = None  # database whose sender to SIGKILL

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            if self.always:
                return self.always
            if self.fail_next:
                return self.fail_next.pop(0)
            msg = message_from_bytes(envelope.content, policy=policy.default)
            assert isinstance(msg, EmailMessage)
            self.received.append(msg)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            victim = self.kill_claimant_of
            self.kill_claimant_of = None
        if victim is not None:
            # accepted here, but the sender dies before it can record the success
            con = sqlite3.connect(victim)
            row = con.execute("select claimed_by from emails where status = 'sending'").fetchone()
            con.close()
            if row and row[0]:
                os.kill(int(row[0].rsplit(":", 1)[1]), signal.SIGKILL)
        return "250 OK"


class SmtpServer:
    def __init__(self, tls_cert: tuple[Path, Path] | None = None) -> None:
        self.port = free_port()
        self.handler = Handler()
        self.tls = tls_cert
        self.controller: Controller | None = None

    def start(self) -> SmtpServer:
        kwargs: dict[str, Any] = {}
        if self.tls:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(str(self.tls[0]), str(self.tls[1]))
            kwargs = {"tls_context": ctx, "require_starttls": True}
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port,
                                     **kwargs)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def received(self) -> list[EmailMessage]:
        with self.handler.lock:
            return list(self.handler.received)
