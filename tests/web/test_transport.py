"""The web admin over real sockets outside the aiohttp test client: ``serve()`` on loopback,
HTTPS with a throw-away certificate (the cookies become Secure), and the log-in back-off keyed
by the client's source address (127.0.0.1 locked out, 127.0.0.2 still welcome)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import ssl
from pathlib import Path

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from provisioning.web.server import SESSION_COOKIE, parse_listen, serve
from tests.peers import free_port
from tests.web.conftest import PASSWORD, make_config
from tests.web.fake_backend import FakeBackend


def _self_signed(folder: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pi-ata test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


async def _login(
    session: aiohttp.ClientSession, base: str, password: str
) -> aiohttp.ClientResponse:
    async with session.get(base + "/login") as page:
        match = re.search(r'name="login_token" value="([^"]+)"', await page.text())
    assert match
    async with session.post(
        base + "/login",
        data={"login_token": match.group(1), "password": password},
        allow_redirects=False,
    ) as response:
        await response.read()
        return response


async def test_https_cookies_are_secure(tmp_path: Path) -> None:
    port = free_port(also_tcp=True)
    runner = await serve(
        FakeBackend(make_config()), f"127.0.0.1:{port}", ssl_context=_self_signed(tmp_path)
    )
    base = f"https://127.0.0.1:{port}"
    try:
        jar = aiohttp.CookieJar(unsafe=True)
        connector = aiohttp.TCPConnector(ssl=False)  # the certificate is self-signed
        async with aiohttp.ClientSession(cookie_jar=jar, connector=connector) as session:
            async with session.get(base + "/login") as page:
                assert "Secure" in page.headers["Set-Cookie"]
            response = await _login(session, base, PASSWORD)
            assert response.status == 303
            cookie = response.cookies[SESSION_COOKIE]
            assert cookie["secure"]
            assert cookie["httponly"]
            assert cookie["samesite"] == "Strict"
            async with session.get(base + "/api/status") as status:
                assert status.status == 200
                assert (await status.json())["status"]["lines"][0]["user"] == "1001"
    finally:
        await runner.cleanup()


async def test_back_off_is_per_source_address() -> None:
    port = free_port(also_tcp=True)
    runner = await serve(FakeBackend(make_config()), f"127.0.0.1:{port}")
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as attacker:
            statuses = [(await _login(attacker, base, "guess-guess")).status for _ in range(5)]
            assert statuses == [401] * 5
            assert (await _login(attacker, base, PASSWORD)).status == 429
        other = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
        async with aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True), connector=other
        ) as admin:
            assert (await _login(admin, base, PASSWORD)).status == 303
    finally:
        await runner.cleanup()


def test_parse_listen() -> None:
    assert parse_listen("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_listen("0.0.0.0:80") == ("0.0.0.0", 80)
    assert parse_listen("[::1]:8443") == ("::1", 8443)
    assert parse_listen("[::1]") == ("::1", 8080)
    assert parse_listen("localhost") == ("localhost", 8080)


async def test_serve_defaults_to_loopback() -> None:
    runner = await serve(FakeBackend(make_config()), "127.0.0.1:0")
    try:
        addresses = runner.addresses
        assert addresses
        assert all(addr[0] == "127.0.0.1" for addr in addresses)
    finally:
        await runner.cleanup()
    import inspect

    assert inspect.signature(serve).parameters["listen"].default == "127.0.0.1:8080"
