"""TLS for the signaling server: load a certificate, or make a self-signed one for LAN use.

Browsers only allow the microphone on secure origins (https, or http://localhost), so a
server reached over the LAN needs TLS. `ensure_self_signed()` writes an ECDSA P-256 certificate
valid for localhost, the loopback addresses, this machine's name and addresses, and the host
the server listens on. Browsers show a warning for it once; Python clients pass the certificate
file as their CA (`SignalingClient.connect(..., cafile=CERT)`).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 365
RENEW_BEFORE_DAYS = 7
CERT_NAME = "selfsigned-cert.pem"
KEY_NAME = "selfsigned-key.pem"


class TLSSetupError(Exception):
    """Certificate or key unreadable or mismatched; the message says which file and why."""


def server_context(cert_file: str | os.PathLike, key_file: str | os.PathLike) -> ssl.SSLContext:
    """A server-side SSLContext (TLS >= 1.2) from PEM files."""
    for path, what in ((cert_file, "certificate"), (key_file, "key")):
        if not Path(path).is_file():
            raise TLSSetupError(f"TLS {what} {path}: no such file")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert_file), str(key_file))
    except ssl.SSLError as error:
        raise TLSSetupError(f"cannot use TLS certificate {cert_file} with key {key_file}: {error}") from error
    return context


def _names(extra_hosts: list[str]) -> tuple[list[str], list[ipaddress._BaseAddress]]:
    dns = ["localhost"]
    ips: list[ipaddress._BaseAddress] = [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    candidates = list(extra_hosts)
    try:
        hostname = socket.gethostname()
        candidates.append(hostname)
        candidates += socket.gethostbyname_ex(hostname)[2]
    except OSError:
        pass
    for host in candidates:
        if not host or host in ("0.0.0.0", "::"):
            continue
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            if host.lower() not in dns:
                dns.append(host.lower())
            continue
        if address not in ips:
            ips.append(address)
    return dns, ips


def _covers(cert: x509.Certificate, dns: list[str], ips: list) -> bool:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have_dns = set(san.get_values_for_type(x509.DNSName))
    have_ips = set(san.get_values_for_type(x509.IPAddress))
    return set(dns) <= have_dns and set(ips) <= have_ips


def ensure_self_signed(directory: str | os.PathLike, hosts: list[str] | None = None) -> tuple[Path, Path]:
    """Return (cert, key) in `directory`, reusing a previous certificate when it still covers
    the names and is not about to expire; otherwise write a new one (key mode 0600)."""
    directory = Path(directory)
    cert_path, key_path = directory / CERT_NAME, directory / KEY_NAME
    dns, ips = _names(hosts or [])
    now = dt.datetime.now(dt.timezone.utc)
    if cert_path.is_file() and key_path.is_file():
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            fresh = cert.not_valid_after_utc - now > dt.timedelta(days=RENEW_BEFORE_DAYS)
            if fresh and _covers(cert, dns, ips):
                return cert_path, key_path
        except ValueError:
            pass  # unreadable: make a new one
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dred-rtc self-signed"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dred-rtc")])
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in dns]
                                                   + [x509.IPAddress(ip) for ip in ips]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    key_bytes = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key_bytes)
    os.chmod(key_path, 0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def fingerprint(cert_file: str | os.PathLike) -> str:
    """SHA-256 fingerprint as browsers show it (AB:CD:...)."""
    cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
    return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))
