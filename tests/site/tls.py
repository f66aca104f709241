"""Certificates made on the spot for HTTPS tests: a private CA (which a test may trust
through SSL_CERT_FILE), and server certificates for 127.0.0.1 that are good, expired,
for another host or self-signed (tests/site/scripted.py serves HTTPS with them)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

KINDS = ("good", "expired", "wrong-host", "self-signed")


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class LocalCA:
    """A certificate authority of its own, written under `folder` (ca.pem)."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        self.cert = (x509.CertificateBuilder().subject_name(_name("newswatch test CA"))
                     .issuer_name(_name("newswatch test CA"))
                     .public_key(self.key.public_key())
                     .serial_number(x509.random_serial_number())
                     .not_valid_before(now - dt.timedelta(days=1))
                     .not_valid_after(now + dt.timedelta(days=30))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                     .add_extension(x509.KeyUsage(False, False, False, False, False, True,
                                                  True, False, False), True)
                     .sign(self.key, hashes.SHA256()))
        self.pem = folder / "ca.pem"
        self.pem.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def server_files(self, kind: str) -> tuple[Path, Path]:
        """(certificate, key) files for 127.0.0.1 of this kind (see KINDS)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        before, after = now - dt.timedelta(days=1), now + dt.timedelta(days=30)
        if kind == "expired":
            before, after = now - dt.timedelta(days=60), now - dt.timedelta(days=30)
        names: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                         x509.DNSName("localhost")]
        if kind == "wrong-host":
            names = [x509.DNSName("news.other.example")]
        subject = _name("news.other.example" if kind == "wrong-host" else "127.0.0.1")
        issuer, signer = (subject, key) if kind == "self-signed" else (
            self.cert.subject, self.key)
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(before).not_valid_after(after)
                .add_extension(x509.SubjectAlternativeName(names), False)
                .sign(signer, hashes.SHA256()))
        cert_path, key_path = self.folder / f"{kind}.pem", self.folder / f"{kind}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(_pem_key(key))
        return cert_path, key_path
