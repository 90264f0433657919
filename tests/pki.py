"""A throw-away public-key infrastructure for the proxy: a CA, a server certificate, client certificates.

Generated with ``cryptography`` at test time (and by ``scripts/run-proxy`` under
``var/``), never committed. EC P-256 keys: quick to make, and what TLS 1.3
clients all speak.
"""
from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=30)


@dataclass(frozen=True)
class Credential:
    """A certificate and its key, written as PEM files."""

    cert_path: Path
    key_path: Path
    subject_dn: str   # RFC 4514, the form nginx's $ssl_client_s_dn gives


class CertificateAuthority:
    """A self-signed CA that issues server and client certificates into one directory."""

    def __init__(self, directory: Path, common_name: str):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                               x509.NameAttribute(NameOID.ORGANIZATION_NAME, "TDDUI Gateway tests"),
                               x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        self.certificate = (self._builder(self.name, self.key.public_key())
                            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                                         key_encipherment=False, data_encipherment=False,
                                                         key_agreement=False, key_cert_sign=True, crl_sign=True,
                                                         encipher_only=False, decipher_only=False), critical=True)
                            .sign(self.key, hashes.SHA256()))
        self.cert_path = self.directory / f"{_file_name(common_name)}-ca.pem"
        self.cert_path.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))

    def issue_server(self, host: str = "localhost") -> Credential:
        """A server certificate for ``host``, 127.0.0.1 and ::1."""
        names = [x509.DNSName(host), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                 x509.IPAddress(ipaddress.ip_address("::1"))]
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
        return self._issue(subject, ExtendedKeyUsageOID.SERVER_AUTH,
                           x509.SubjectAlternativeName(names), f"server-{_file_name(host)}")

    def issue_client(self, common_name: str, organisation: str = "Editeur DUI") -> Credential:
        subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                             x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
                             x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        return self._issue(subject, ExtendedKeyUsageOID.CLIENT_AUTH, None, f"client-{_file_name(common_name)}")

    def _issue(self, subject: x509.Name, usage, alternative_names, stem: str) -> Credential:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (self._builder(subject, key.public_key())
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
        if alternative_names is not None:
            builder = builder.add_extension(alternative_names, critical=False)
        certificate = builder.sign(self.key, hashes.SHA256())
        cert_path = self.directory / f"{stem}.crt"
        key_path = self.directory / f"{stem}.key"
        cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        key_path.chmod(0o600)
        return Credential(cert_path, key_path, subject.rfc4514_string())

    def _builder(self, subject: x509.Name, public_key) -> x509.CertificateBuilder:
        now = datetime.datetime.now(datetime.timezone.utc)
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(self.name).public_key(public_key)
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + VALIDITY))


def _file_name(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower())
