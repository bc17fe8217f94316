"""A local certificate authority for mutual TLS between nodes and the local Kafka.

``broker local up --tls`` issues, from one local CA, a server certificate for the
broker (SAN ``IP:127.0.0.1``, EKU serverAuth + clientAuth, CN ``broker``) and one
client certificate per principal: every agency (CN = agency id, e.g. ``ES-PN``),
the ``router``, the ``hub`` operator and ``admin``. Kafka maps the certificate's
CN to the principal ``User:<CN>`` (``ssl.principal.mapping.rules``) and the ACLs
derived from :func:`broker.topics.access_matrix` do the rest.

These TLS certificates are transport identities only; they are independent of the
federation's signing and encryption keys (``broker.trust``). Files are written
with mode 0600 under ``<home>/state/tls/`` and never committed.

Example::

    >>> import tempfile, pathlib
    >>> ca = LocalCA.create(directory=pathlib.Path(tempfile.mkdtemp()))
    >>> ident = ca.issue("ES-PN")
    >>> ident.cert_file.name
    'ES-PN.crt'
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from broker.errors import LocalKafkaError
from broker.transport import TlsIdentity

__all__ = ["ADMIN_PRINCIPAL", "BROKER_PRINCIPAL", "LocalCA"]

#: Super-user principal for topic and ACL administration under TLS.
ADMIN_PRINCIPAL = "admin"
#: CN of the broker's own certificate; must be a Kafka super user.
BROKER_PRINCIPAL = "broker"
_VALIDITY = dt.timedelta(days=30)


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _name(common_name: str) -> x509.Name:
    # CN only: Kafka's principal mapping rule (^CN=...) then yields User:<CN> exactly.
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class LocalCA:
    """A throw-away CA (ECDSA P-256) that issues the broker's and every node's certificate."""

    def __init__(
        self, *, directory: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate
    ) -> None:
        self.directory = directory
        self._key = key
        self._cert = cert

    @property
    def ca_file(self) -> Path:
        """PEM file with the CA certificate (the trust anchor for both sides)."""
        return self.directory / "ca.crt"

    @classmethod
    def create(cls, *, directory: Path) -> LocalCA:
        """Create a new CA in ``directory``."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        name = _name("dossier-broker-local-CA")
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + _VALIDITY)
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
            .sign(key, hashes.SHA256())
        )
        ca = cls(directory=directory, key=key, cert=cert)
        _write_private(
            directory / "ca.key",
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        ca.ca_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return ca

    @classmethod
    def load(cls, *, directory: Path) -> LocalCA:
        """Load an existing CA from ``directory``."""
        try:
            key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), None)
            cert = x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes())
        except (OSError, ValueError) as exc:
            raise LocalKafkaError("cannot load the local TLS CA", detail=str(directory)) from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise LocalKafkaError("local TLS CA key has the wrong type", detail=str(directory))
        return cls(directory=directory, key=key, cert=cert)

    def identity(self, principal: str) -> TlsIdentity:
        """Return the file locations of an already issued identity."""
        return TlsIdentity(
            ca_file=self.ca_file,
            cert_file=self.directory / f"{principal}.crt",
            key_file=self.directory / f"{principal}.key",
        )

    def issue(self, principal: str, *, server: bool = False) -> TlsIdentity:
        """Issue a certificate with CN ``principal``; ``server`` adds SAN 127.0.0.1/localhost.

        Also writes ``<principal>.pem`` (PKCS#8 key followed by the chain), the form a
        Kafka PEM keystore needs.
        """
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
        if server:
            usages.insert(0, ExtendedKeyUsageOID.SERVER_AUTH)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(principal))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
                        x509.DNSName("localhost"),
                    ]
                ),
                critical=False,
            )
        cert = builder.sign(self._key, hashes.SHA256())
        ident = self.identity(principal)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        _write_private(ident.key_file, key_pem)
        ident.cert_file.write_bytes(cert_pem)
        ca_pem = self._cert.public_bytes(serialization.Encoding.PEM)
        _write_private(self.directory / f"{principal}.pem", key_pem + cert_pem + ca_pem)
        return ident
