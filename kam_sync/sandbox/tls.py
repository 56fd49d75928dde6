"""TLS material for the sandbox: a throw-away CA and a server certificate for 127.0.0.1.

simple-salesforce always builds `https://` URLs, so the Salesforce side must speak TLS.
A client trusts the sandbox by pointing `requests` at the CA file (`session.verify`).
The CA is a real CA (basicConstraints CA:TRUE, keyCertSign) and the server certificate a
real leaf (serverAuth, SAN for 127.0.0.1, ::1 and localhost), so strict X.509 checking
(Python 3.13's default VERIFY_X509_STRICT) accepts the chain.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True, slots=True)
class TlsMaterial:
    """Paths of the generated PEM files."""

    ca_cert_path: Path
    cert_path: Path
    key_path: Path

    def server_context(self) -> ssl.SSLContext:
        """An SSL context for the server side."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_path, self.key_path)
        return context


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kam-sync sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def generate_tls_material(directory: Path, *, valid_days: int = 30) -> TlsMaterial:
    """Write `ca.pem`, `server.pem` and `server-key.pem` into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    until = now + dt.timedelta(days=valid_days)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("kam-sync sandbox CA")
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    material = TlsMaterial(
        ca_cert_path=directory / "ca.pem",
        cert_path=directory / "server.pem",
        key_path=directory / "server-key.pem",
    )
    material.ca_cert_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    material.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    material.key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    material.key_path.chmod(0o600)
    return material


def kept_tls_material(directory: Path, *, valid_days: int = 365) -> TlsMaterial:
    """The TLS material in `directory` when it is there and valid for another day; otherwise
    new material written there (`sandbox serve --state-dir`: a project trusting the CA keeps
    working across restarts)."""
    material = TlsMaterial(
        ca_cert_path=directory / "ca.pem",
        cert_path=directory / "server.pem",
        key_path=directory / "server-key.pem",
    )
    paths = (material.ca_cert_path, material.cert_path, material.key_path)
    if all(path.is_file() for path in paths):
        try:
            cert = x509.load_pem_x509_certificate(material.cert_path.read_bytes())
            ca = x509.load_pem_x509_certificate(material.ca_cert_path.read_bytes())
        except ValueError:
            return generate_tls_material(directory, valid_days=valid_days)
        tomorrow = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        if min(cert.not_valid_after_utc, ca.not_valid_after_utc) > tomorrow:
            return material
    return generate_tls_material(directory, valid_days=valid_days)
