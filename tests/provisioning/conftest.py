"""Fixtures for provisioning tests: a test PKI (made with `cryptography`) and a profile server.

The server is a real aiohttp application on 127.0.0.1 (HTTP or HTTPS), serving whatever the test
puts in ``server.files`` with ETag/Last-Modified support and a request log.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOOPBACK = "127.0.0.1"


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    sans: list[x509.GeneralName] | None = None,
    eku: list[x509.ObjectIdentifier] | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        # Python 3.13 verifies strictly (VERIFY_X509_STRICT): key identifiers are required.
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass
class Pki:
    ca_file: Path
    server_cert: Path  # for 127.0.0.1 and localhost, signed by the CA
    server_key: Path
    wrong_host_cert: Path  # signed by the CA, but for another host name
    rogue_cert: Path  # for 127.0.0.1, signed by an untrusted CA
    client_cert: Path
    client_key: Path


def _make_pki(folder: Path) -> Pki:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("pi-ata test CA", ca_key, _name("pi-ata test CA"), ca_key, ca=True)
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    rogue_ca = _name("rogue CA")
    server_key = ec.generate_private_key(ec.SECP256R1())
    loopback = [x509.IPAddress(ipaddress.ip_address(LOOPBACK)), x509.DNSName("localhost")]
    server = _cert("localhost", server_key, ca.subject, ca_key, ca=False, sans=loopback,
                   eku=[ExtendedKeyUsageOID.SERVER_AUTH])  # fmt: skip
    other = [x509.DNSName("prov.example.com")]
    wrong = _cert("prov.example.com", server_key, ca.subject, ca_key, ca=False, sans=other,
                  eku=[ExtendedKeyUsageOID.SERVER_AUTH])  # fmt: skip
    rogue = _cert("localhost", server_key, rogue_ca, rogue_key, ca=False, sans=loopback)
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _cert("ata-001122aabbcc", client_key, ca.subject, ca_key, ca=False,
                   eku=[ExtendedKeyUsageOID.CLIENT_AUTH])  # fmt: skip
    pem = serialization.Encoding.PEM
    paths = Pki(
        ca_file=folder / "ca.pem",
        server_cert=folder / "server.pem",
        server_key=folder / "server.key",
        wrong_host_cert=folder / "wrong-host.pem",
        rogue_cert=folder / "rogue.pem",
        client_cert=folder / "client.pem",
        client_key=folder / "client.key",
    )
    paths.ca_file.write_bytes(ca.public_bytes(pem))
    paths.server_cert.write_bytes(server.public_bytes(pem))
    paths.wrong_host_cert.write_bytes(wrong.public_bytes(pem))
    paths.rogue_cert.write_bytes(rogue.public_bytes(pem))
    paths.client_cert.write_bytes(client.public_bytes(pem))
    _write_key(server_key, paths.server_key)
    _write_key(client_key, paths.client_key)
    return paths


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return _make_pki(tmp_path_factory.mktemp("pki"))


@dataclass
class ProfileServer:
    base: str
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    redirects: dict[str, str] = field(default_factory=dict)
    client_subjects: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path


async def _start(
    ssl_context: ssl.SSLContext | None,
) -> tuple[ProfileServer, web.AppRunner]:
    server = ProfileServer(base="")

    async def handle(request: web.Request) -> web.StreamResponse:
        server.requests.append((request.path, dict(request.headers)))
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        if peer:
            server.client_subjects.append(str(peer.get("subject")))
        if request.path in server.redirects:
            raise web.HTTPFound(server.redirects[request.path])
        body = server.files.get(request.path)
        if body is None:
            return web.Response(status=404, text="no such profile")
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(
            body=body,
            headers={"ETag": etag, "Last-Modified": "Tue, 24 Nov 2026 10:00:00 GMT"},
            content_type="application/octet-stream",
        )

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, LOOPBACK, 0, ssl_context=ssl_context)
    await site.start()
    sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
    port = sockets[0].getsockname()[1]
    scheme = "https" if ssl_context else "http"
    server.base = f"{scheme}://{LOOPBACK}:{port}"
    return server, runner


@pytest.fixture
async def http_server() -> AsyncIterator[ProfileServer]:
    server, runner = await _start(None)
    yield server
    await runner.cleanup()


def server_context(pki: Pki, cert: Path, *, require_client: bool = False) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, pki.server_key)
    if require_client:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(pki.ca_file)
    return context


@pytest.fixture
async def https_server(pki: Pki) -> AsyncIterator[ProfileServer]:
    server, runner = await _start(server_context(pki, pki.server_cert))
    yield server
    await runner.cleanup()


@pytest.fixture
async def start_server(pki: Pki) -> AsyncIterator[object]:
    runners: list[web.AppRunner] = []

    async def start(cert: Path | None, *, require_client: bool = False) -> ProfileServer:
        context = server_context(pki, cert, require_client=require_client) if cert else None
        server, runner = await _start(context)
        runners.append(runner)
        return server

    yield start
    for runner in runners:
        await runner.cleanup()
