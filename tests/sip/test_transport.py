"""SIP transports on real loopback sockets: UDP, TCP, TLS (test CA), limits and filters."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ata.runtime.sip_transport import SipTransport, Source, TransportConfig
from ata.sip.message import Request, Response, make_response
from ata.sip.parser import parse_message

LO = "127.0.0.1"


def options(
    port: int, *, transport: str = "UDP", host: str = LO, extra: str = "", rport=True
) -> bytes:
    rp = ";rport" if rport else ""
    return (
        f"OPTIONS sip:ata@{LO} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} {host}:{port};branch=z9hG4bK-{port}-x{rp}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:t@{LO}>;tag=1\r\n"
        f"To: <sip:ata@{LO}>\r\n"
        f"Call-ID: c-{port}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        f"{extra}"
        "Content-Length: 0\r\n\r\n"
    ).encode()


class Sink:
    def __init__(self, reply: int | None = None, fail: bool = False) -> None:
        self.messages: list[tuple[Request | Response, Source]] = []
        self.event = asyncio.Event()
        self.reply = reply
        self.fail = fail
        self.transport: SipTransport | None = None

    def __call__(self, message: Request | Response, source: Source) -> None:
        if self.fail:
            raise RuntimeError("handler bug")
        self.messages.append((message, source))
        self.event.set()
        if self.reply and isinstance(message, Request) and self.transport is not None:
            self.transport.send_response(make_response(message, self.reply, to_tag="t"), source)

    async def wait(self, count: int = 1, limit: float = 3.0) -> None:
        async def until() -> None:
            while len(self.messages) < count:
                self.event.clear()
                await self.event.wait()

        await asyncio.wait_for(until(), limit)


@pytest.fixture
async def transports() -> AsyncIterator[Callable[..., object]]:
    made: list[SipTransport] = []

    async def make(sink: Sink, **kwargs: object) -> SipTransport:
        kwargs.setdefault("host", LO)
        kwargs.setdefault("udp_port", 0)
        transport = SipTransport(TransportConfig(**kwargs), sink)  # type: ignore[arg-type]
        sink.transport = transport
        await transport.start()
        made.append(transport)
        return transport

    yield make
    for transport in made:
        await transport.close()


async def udp_exchange(data: bytes, dest: tuple[str, int], *, bind: str = LO, wait: float = 1.0):
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((bind, 0))
        s.setblocking(False)
        await loop.sock_sendto(s, data, dest)
        try:
            return await asyncio.wait_for(loop.sock_recv(s, 65535), wait)
        except TimeoutError:
            return None


async def test_udp_request_is_delivered_with_received_and_rport(transports) -> None:
    sink = Sink(reply=200)
    t = await transports(sink)
    dest = t.local_address("udp")
    answer = await udp_exchange(options(5999, host="192.0.2.99"), dest)
    assert answer is not None
    response = parse_message(answer)
    assert isinstance(response, Response)
    assert response.status == 200
    ((message, source),) = sink.messages
    assert isinstance(message, Request)
    assert source.transport == "udp"
    via = message.top_via
    assert via.received == LO
    assert via.rport == source.address[1]
    assert t.counters.received == 1
    assert t.counters.sent == 1


async def test_malformed_request_answered_400_and_garbage_dropped(transports) -> None:
    sink = Sink()
    t = await transports(sink)
    dest = t.local_address("udp")
    bad = options(5998).replace(b"CSeq: 1 OPTIONS", b"CSeq: x OPTIONS")
    answer = await udp_exchange(bad, dest)
    assert answer is not None
    assert answer.startswith(b"SIP/2.0 400 ")
    assert await udp_exchange(b"\x00\xff garbage \x01", dest, wait=0.3) is None
    assert await udp_exchange(b"SIP/2.0 200 OK\r\nVia: broken\r\n\r\n", dest, wait=0.3) is None
    assert sink.messages == []
    assert t.counters.parse_errors == 3
    assert t.counters.answered_errors == 1
    assert t.counters.dropped_malformed == 2


async def test_size_limits(transports) -> None:
    sink = Sink(reply=200)
    t = await transports(sink, max_message=16384)
    dest = t.local_address("udp")
    padding = "X-Pad: " + "a" * 9000 + "\r\n"
    big_ok = options(5997, extra=padding)
    assert len(big_ok) > 8192
    answer = await udp_exchange(big_ok, dest)
    assert answer is not None
    assert answer.startswith(b"SIP/2.0 200")
    huge = b"A" * 65507
    assert await udp_exchange(huge, dest, wait=0.3) is None
    assert t.counters.dropped_oversize == 1
    # still serving afterwards
    assert await udp_exchange(options(5996), dest) is not None
    with pytest.raises(ValueError):
        SipTransport(TransportConfig(max_message=4000), sink)


async def test_source_filter_gives_strangers_nothing(transports) -> None:
    sink = Sink(reply=200)
    t = await transports(sink, allowed_sources=["127.0.0.2/32"])
    dest = t.local_address("udp")
    assert await udp_exchange(options(5995), dest, wait=0.3) is None
    assert t.counters.dropped_source == 1
    answer = await udp_exchange(options(5994), dest, bind="127.0.0.2")
    assert answer is not None
    t.set_allowed_sources(None)
    assert await udp_exchange(options(5993), dest) is not None


async def test_rate_limit_per_source(transports) -> None:
    sink = Sink()
    t = await transports(sink, rate_per_second=1.0, rate_burst=5.0)
    dest = t.local_address("udp")
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((LO, 0))
        for n in range(20):
            await loop.sock_sendto(s, options(6000 + n), dest)
    await sink.wait(5)
    await asyncio.sleep(0.1)
    assert len(sink.messages) == 5
    assert t.counters.dropped_rate == 15
    # another source has its own bucket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.3", 0))
        await loop.sock_sendto(s, options(6100), dest)
    await sink.wait(6)


async def test_handler_error_is_counted_and_serving_continues(transports) -> None:
    sink = Sink(fail=True)
    t = await transports(sink)
    dest = t.local_address("udp")
    await udp_exchange(options(5990), dest, wait=0.2)
    await udp_exchange(options(5991), dest, wait=0.2)
    assert t.counters.handler_errors == 2
    sink.fail = False
    await udp_exchange(options(5992), dest, wait=0.2)
    assert len(sink.messages) == 1


async def test_tcp_request_and_response_on_same_connection(transports) -> None:
    server_sink = Sink(reply=200)
    server = await transports(server_sink, udp_port=None, tcp_port=0)
    client_sink = Sink()
    client = await transports(client_sink)
    dest = server.local_address("tcp")
    request = parse_message(options(7000, transport="TCP"))
    assert isinstance(request, Request)
    assert await client.send(request, dest, "tcp") == "tcp"
    await client_sink.wait(1)
    response, source = client_sink.messages[0]
    assert isinstance(response, Response)
    assert response.status == 200
    assert source.transport == "tcp"
    assert server.counters.connections_accepted == 1
    assert client.counters.connections_opened == 1
    # a second request reuses the connection
    await client.send(request, dest, "tcp")
    await client_sink.wait(2)
    assert client.counters.connections_opened == 1
    # CRLF keep-alive: ping answered by a pong
    await client.send_keepalive(dest, "tcp")
    for _ in range(50):
        if client.counters.pongs_received:
            break
        await asyncio.sleep(0.02)
    assert server.counters.pings_received == 1
    assert client.counters.pongs_received == 1


async def test_large_request_over_udp_switches_to_tcp(transports) -> None:
    server_sink = Sink(reply=200)
    server = await transports(server_sink, udp_port=0, tcp_port=0)
    assert server.local_address("tcp")[1] != 0
    client_sink = Sink()
    client = await transports(client_sink)
    # same port number on UDP and TCP is what a SIP server normally has; use the TCP one
    dest = server.local_address("tcp")
    request = parse_message(options(7001, extra="X-Pad: " + "b" * 1400 + "\r\n"))
    assert isinstance(request, Request)
    assert await client.send(request, dest, "udp") == "tcp"
    await server_sink.wait(1)
    received, source = server_sink.messages[0]
    assert source.transport == "tcp"
    assert isinstance(received, Request)
    assert received.top_via.transport == "TCP"
    assert client.counters.udp_to_tcp == 1
    await client_sink.wait(1)


async def test_tcp_framing_error_closes_connection(transports) -> None:
    sink = Sink()
    t = await transports(sink, udp_port=None, tcp_port=0)
    host, port = t.local_address("tcp")
    reader, writer = await asyncio.open_connection(host, port)
    no_length = options(7002).replace(b"Content-Length: 0\r\n", b"")
    writer.write(no_length)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 2.0)
    assert data == b""  # closed by the server
    writer.close()
    assert t.counters.framing_errors == 1
    assert sink.messages == []


async def test_tcp_stranger_connection_closed(transports) -> None:
    sink = Sink()
    t = await transports(sink, udp_port=None, tcp_port=0, allowed_sources=["10.0.0.0/8"])
    host, port = t.local_address("tcp")
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(options(7003, transport="TCP"))
    data = await asyncio.wait_for(reader.read(), 2.0)
    assert data == b""
    writer.close()
    assert sink.messages == []
    assert t.counters.dropped_source >= 1


# --- TLS with a test CA -------------------------------------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca(tmp: Path, cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        # Python 3.13 verifies strictly (VERIFY_X509_STRICT): key identifiers are required.
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    path = tmp / f"{cn}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert, path


def _server_context(tmp: Path, ca_key, ca_cert, host: str) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(host))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(host), x509.IPAddress(ipaddress.ip_address(LO))]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_path = tmp / "server.pem"
    key_path = tmp / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_path, key_path)
    return ctx


def _client_context(ca_path: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca_path))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


async def test_tls_with_ca_and_hostname_validation(transports, tmp_path: Path) -> None:
    ca_key, ca_cert, ca_path = _ca(tmp_path, "pi-ata test CA")
    server_ctx = _server_context(tmp_path, ca_key, ca_cert, "sip.test")
    server_sink = Sink(reply=200)
    server = await transports(server_sink, udp_port=None, tls_port=0, tls_server_context=server_ctx)
    dest = server.local_address("tls")
    request = parse_message(options(7004, transport="TLS"))
    assert isinstance(request, Request)

    good_sink = Sink()
    good = await transports(good_sink, tls_client_context=_client_context(ca_path))
    assert await good.send(request, dest, "tls", hostname="sip.test") == "tls"
    await good_sink.wait(1)
    response, source = good_sink.messages[0]
    assert isinstance(response, Response)
    assert response.status == 200
    assert source.transport == "tls"

    # the right CA but the wrong name: refused
    wrong_name = await transports(Sink(), tls_client_context=_client_context(ca_path))
    with pytest.raises(ssl.SSLCertVerificationError):
        await wrong_name.send(request, dest, "tls", hostname="other.test")
    assert wrong_name.counters.send_errors == 1

    # another CA: refused
    _, _, other_ca = _ca(tmp_path, "someone else")
    stranger = await transports(Sink(), tls_client_context=_client_context(other_ca))
    with pytest.raises(ssl.SSLCertVerificationError):
        await stranger.send(request, dest, "tls", hostname="sip.test")
    assert len(server_sink.messages) == 1


async def test_send_to_closed_tcp_port_raises(transports) -> None:
    client = await transports(Sink())
    with socket.socket() as s:
        s.bind((LO, 0))
        port = s.getsockname()[1]
    request = parse_message(options(7005, transport="TCP"))
    assert isinstance(request, Request)
    with pytest.raises(OSError):
        await client.send(request, (LO, port), "tcp")
    assert client.counters.send_errors == 1


async def test_trusted_source_is_not_rate_limited(transports) -> None:
    sink = Sink()
    t = await transports(sink, rate_per_second=1.0, rate_burst=2.0)
    t.add_trusted_source("127.0.0.4")
    dest = t.local_address("udp")
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.4", 0))
        for n in range(10):
            await loop.sock_sendto(s, options(6200 + n), dest)
    await sink.wait(10)
    assert t.counters.dropped_rate == 0


async def test_idle_accepted_connection_is_closed(transports) -> None:
    sink = Sink()
    t = await transports(sink, udp_port=None, tcp_port=0, idle_timeout=0.2)
    host, port = t.local_address("tcp")
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"OPTIONS sip:x SIP/2.0\r\n")  # a slow, never-finished message
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 3.0)
    assert data == b""
    writer.close()
    assert t.counters.connections_idle_closed == 1
    assert t.connection_count() == 0
