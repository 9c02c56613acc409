"""SIP transports on asyncio: UDP, TCP and TLS (RFC 3261 §18), with the ATA's defences.

Theory of operation
-------------------
:class:`SipTransport` owns one UDP socket and optional TCP/TLS listeners, plus the stream
connections it opens or accepts (cached per remote address, so responses and later requests
reuse them). Every inbound unit — a datagram, or a message cut from a stream by
:class:`ata.sip.parser.StreamFramer` — goes through the same gate, in order:

1. **source filter**: when ``allowed_sources`` is set, anything from elsewhere is dropped
   without a reply (and a stranger's TCP connection is closed at once) — ghost-call and
   scanner protection; counted in ``dropped_source``;
2. **rate limit**: a token bucket per source IP (bounded table); excess dropped, counted;
   ``trusted_sources`` (the proxy/registrar, added by the endpoint) are exempt;
3. **size**: a datagram above ``max_message`` (≥ 8 KiB) is dropped and counted; a stream
   message above it breaks framing, which closes the connection;
4. **parse**: :func:`ata.sip.parser.parse_message`; a malformed request is answered with the
   error's status (400/505/513) when :func:`ata.sip.message.error_response` can build it,
   else dropped; malformed responses are dropped; all counted, never raised;
5. a request gets ``received``/``rport`` stamped on its top Via (RFC 3261 §18.2.1, RFC 3581),
   then the message and its :class:`Source` go to the handler callback.

Sending: :meth:`SipTransport.send` serializes a message for a destination and transport; a
request larger than ``udp_max_size`` (1300 bytes) that would go over UDP goes over TCP instead
and its top Via says so (§18.1.1). :meth:`SipTransport.send_response` sends a response back
where the request came from (same connection for TCP/TLS, source address and port for UDP —
symmetric response routing, which is what NATed peers need). TLS client connections verify
the certificate chain against the configured CA and the server's host name.

Keep-alive: a double CRLF ping on a stream is answered with a CRLF pong (RFC 5626 §3.5.1);
:meth:`SipTransport.send_keepalive` sends a ping. Every event is counted in
:class:`TransportCounters` (``counters.as_dict()``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import logging
import socket
import ssl
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Final, cast

from ata.sip.errors import SipError, SipFramingError, SipParseError
from ata.sip.message import Request, Response, error_response
from ata.sip.parser import StreamFramer, parse_message

log = logging.getLogger(__name__)

Address = tuple[str, int]
Message = Request | Response
MIN_MAX_MESSAGE: Final = 8192
UDP_RECV_LIMIT: Final = 65535
PING: Final = b"\r\n\r\n"
PONG: Final = b"\r\n"


@dataclass(frozen=True)
class Source:
    """Where an inbound message came from: transport, remote address, stream connection id."""

    transport: str
    address: Address
    connection: int | None = None


@dataclass
class TransportCounters:
    received: int = 0
    sent: int = 0
    parse_errors: int = 0
    answered_errors: int = 0
    dropped_malformed: int = 0
    dropped_oversize: int = 0
    dropped_rate: int = 0
    dropped_source: int = 0
    handler_errors: int = 0
    send_errors: int = 0
    udp_to_tcp: int = 0
    connections_opened: int = 0
    connections_accepted: int = 0
    connections_closed: int = 0
    connections_refused: int = 0
    connections_idle_closed: int = 0
    framing_errors: int = 0
    pings_received: int = 0
    pongs_received: int = 0
    keepalives_sent: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class TransportConfig:
    """Listening addresses and limits. Ports: ``0`` = any free port, ``None`` = disabled."""

    host: str = "0.0.0.0"  # noqa: S104 - an ATA listens on its LAN address by default
    udp_port: int | None = 5060
    tcp_port: int | None = None
    tls_port: int | None = None
    tls_server_context: ssl.SSLContext | None = None
    tls_client_context: ssl.SSLContext | None = None
    max_message: int = 16384
    udp_max_size: int = 1300
    allowed_sources: Sequence[str] | None = None  # IPs or CIDR networks; None = anyone
    trusted_sources: Sequence[str] = ()  # exempt from the rate limit (our proxy/registrar)
    rate_per_second: float = 50.0
    rate_burst: float = 100.0
    max_connections: int = 128
    max_rate_entries: int = 4096
    connect_timeout: float = 5.0
    idle_timeout: float = 600.0  # close an accepted connection silent for this long


MessageHandler = Callable[[Message, Source], None]


class _RateLimiter:
    """Token bucket per source IP; the table is bounded (least recently seen evicted)."""

    def __init__(self, rate: float, burst: float, max_entries: int) -> None:
        self.rate = rate
        self.burst = burst
        self.max_entries = max_entries
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, ip: str, now: float) -> bool:
        if self.rate <= 0:
            return True
        tokens, last = self._buckets.pop(ip, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[ip] = (tokens, now)
        while len(self._buckets) > self.max_entries:
            self._buckets.popitem(last=False)
        return allowed


def _networks(items: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(item.strip("[]"), strict=False) for item in items]


def _in_networks(
    ip: str, networks: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]
) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in net for net in networks)


def _stamp_via(request: Request, source: Address) -> None:
    """Add ``received`` (and fill ``rport``) on the top Via (RFC 3261 §18.2.1, RFC 3581)."""
    vias = request.vias
    if not vias:
        return
    top = vias[0]
    changed = False
    if top.host.strip("[]") != source[0]:
        top.params["received"] = source[0]
        changed = True
    if top.has_rport and top.rport is None:
        top.params["received"] = source[0]
        top.params["rport"] = str(source[1])
        changed = True
    if changed:
        request.headers.remove("Via")
        for via in reversed(vias):
            request.headers.insert_first("Via", via)


def _switch_to_tcp(data: bytes) -> bytes | None:
    """The request re-serialized with a TCP top Via; None for a response or unparsable data."""
    try:
        message = parse_message(data)
    except SipParseError:
        return None
    if not isinstance(message, Request):
        return None
    vias = message.vias
    if not vias:
        return None
    vias[0].transport = "TCP"
    message.headers.remove("Via")
    for via in reversed(vias):
        message.headers.insert_first("Via", via)
    return message.to_bytes()


class _Stream(asyncio.Protocol):
    """One TCP or TLS connection: frames messages and hands them to the transport."""

    def __init__(self, owner: SipTransport, transport_name: str, outgoing: bool) -> None:
        self.owner = owner
        self.name = transport_name
        self.outgoing = outgoing
        self.id = next(owner._ids)
        self.framer = StreamFramer(max_message=owner.config.max_message)
        self.transport: asyncio.Transport | None = None
        self.peer: Address = ("", 0)
        loop = asyncio.get_running_loop()
        self.closed = loop.create_future()
        self.last_activity = loop.time()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = (str(peer[0]), int(peer[1]))
        self.owner._stream_opened(self)

    def data_received(self, data: bytes) -> None:
        self.last_activity = asyncio.get_running_loop().time()
        self.owner._stream_data(self, data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner._stream_closed(self)
        if not self.closed.done():
            self.closed.set_result(None)

    def write(self, data: bytes) -> None:
        self.last_activity = asyncio.get_running_loop().time()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class _Datagram(asyncio.DatagramProtocol):
    def __init__(self, owner: SipTransport) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.owner._datagram(data, (str(addr[0]), int(cast(int, addr[1]))))

    def error_received(self, exc: Exception) -> None:
        self.owner.counters.send_errors += 1
        log.debug("UDP error: %s", exc)


class SipTransport:
    """UDP + TCP + TLS SIP transport; ``handler(message, source)`` receives parsed messages."""

    def __init__(self, config: TransportConfig, handler: MessageHandler) -> None:
        if config.max_message < MIN_MAX_MESSAGE:
            raise ValueError(f"max_message must be at least {MIN_MAX_MESSAGE} bytes")
        self.config = config
        self.handler = handler
        self.counters = TransportCounters()
        self._ids = itertools.count(1)
        self._allowed = (
            None if config.allowed_sources is None else _networks(config.allowed_sources)
        )
        self._trusted = _networks(config.trusted_sources)
        self._rate = _RateLimiter(
            config.rate_per_second, config.rate_burst, config.max_rate_entries
        )
        self._udp: asyncio.DatagramTransport | None = None
        self._servers: dict[str, asyncio.Server] = {}
        self._streams: dict[int, _Stream] = {}
        self._by_peer: dict[tuple[str, Address], _Stream] = {}
        self._connecting: dict[tuple[str, Address], asyncio.Future[_Stream]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self.on_stream_closed: Callable[[str, Address], None] | None = None

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        cfg = self.config
        if cfg.udp_port is not None:
            udp, _ = await loop.create_datagram_endpoint(
                lambda: _Datagram(self), local_addr=(cfg.host, cfg.udp_port)
            )
            self._udp = udp
        self._sweeper = loop.call_later(max(0.05, min(30.0, cfg.idle_timeout / 4)), self._sweep)
        if cfg.tcp_port is not None:
            self._servers["tcp"] = await loop.create_server(
                lambda: _Stream(self, "tcp", outgoing=False), cfg.host, cfg.tcp_port
            )
        if cfg.tls_port is not None:
            if cfg.tls_server_context is None:
                raise ValueError("tls_port needs tls_server_context")
            self._servers["tls"] = await loop.create_server(
                lambda: _Stream(self, "tls", outgoing=False),
                cfg.host,
                cfg.tls_port,
                ssl=cfg.tls_server_context,
            )

    def _sweep(self) -> None:
        """Close stream connections idle for ``idle_timeout`` (bounded state, no slowloris)."""
        if self._loop is None:
            return
        limit = self._loop.time() - self.config.idle_timeout
        for stream in list(self._streams.values()):
            # only accepted connections: our own flows to the proxy live as long as it lets them
            if not stream.outgoing and stream.last_activity < limit:
                self.counters.connections_idle_closed += 1
                stream.abort()
        interval = max(0.05, min(30.0, self.config.idle_timeout / 4))
        self._sweeper = self._loop.call_later(interval, self._sweep)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for server in self._servers.values():
            server.close()
        for stream in list(self._streams.values()):
            stream.abort()
        for server in self._servers.values():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 2.0)
        self._servers.clear()
        if self._udp is not None:
            self._udp.close()
            self._udp = None

    def local_address(self, transport: str = "udp") -> Address:
        """The bound (host, port) of a transport, for Via sent-by and Contact."""
        if transport == "udp" and self._udp is not None:
            name = self._udp.get_extra_info("sockname")
            return (str(name[0]), int(name[1]))
        server = self._servers.get(transport)
        if server is not None and server.sockets:
            name = server.sockets[0].getsockname()
            return (str(name[0]), int(name[1]))
        raise LookupError(f"transport {transport} is not listening")

    def add_trusted_source(self, source: str) -> None:
        """Exempt an address (e.g. the registrar's resolved IP) from the rate limit."""
        network = ipaddress.ip_network(source.strip("[]"), strict=False)
        if network not in self._trusted:
            self._trusted.append(network)

    def set_allowed_sources(self, sources: Sequence[str] | None) -> None:
        """Replace the source filter (e.g. with the proxy's freshly resolved addresses)."""
        self._allowed = None if sources is None else _networks(sources)

    # -- inbound -------------------------------------------------------------------------

    def _source_allowed(self, ip: str) -> bool:
        return self._allowed is None or _in_networks(ip, self._allowed)

    def _gate(self, ip: str) -> bool:
        if not self._source_allowed(ip):
            self.counters.dropped_source += 1
            return False
        if self._trusted and _in_networks(ip, self._trusted):
            return True
        now = self._loop.time() if self._loop is not None else 0.0
        if not self._rate.allow(ip, now):
            self.counters.dropped_rate += 1
            return False
        return True

    def _datagram(self, data: bytes, addr: Address) -> None:
        if not self._gate(addr[0]):
            return
        if len(data) > self.config.max_message:
            self.counters.dropped_oversize += 1
            return
        if not data.strip(b"\r\n"):
            self.counters.pings_received += 1  # UDP keep-alive (CRLF): nothing to answer
            return
        self._deliver(data, Source("udp", addr))

    def _deliver(self, data: bytes, source: Source) -> None:
        try:
            message = parse_message(data, max_size=self.config.max_message)
        except SipParseError as err:
            self.counters.parse_errors += 1
            answer = error_response(err)
            if answer is None:
                self.counters.dropped_malformed += 1
                return
            self.counters.answered_errors += 1
            self.send_response(answer, source)
            return
        self.counters.received += 1
        if isinstance(message, Request):
            try:
                _stamp_via(message, source.address)
            except SipError:
                self.counters.dropped_malformed += 1
                return
        try:
            self.handler(message, source)
        except Exception:
            self.counters.handler_errors += 1
            log.exception("SIP handler failed for a %s message", source.transport)

    def _stream_opened(self, stream: _Stream) -> None:
        if not stream.outgoing:
            if not self._source_allowed(stream.peer[0]):
                self.counters.dropped_source += 1
                stream.abort()
                return
            if len(self._streams) >= self.config.max_connections:
                self.counters.connections_refused += 1
                stream.abort()
                return
            self.counters.connections_accepted += 1
        else:
            self.counters.connections_opened += 1
        self._streams[stream.id] = stream
        self._by_peer.setdefault((stream.name, stream.peer), stream)

    def _stream_closed(self, stream: _Stream) -> None:
        if self._streams.pop(stream.id, None) is not None:
            self.counters.connections_closed += 1
        key = (stream.name, stream.peer)
        if self._by_peer.get(key) is stream:
            del self._by_peer[key]
            if self.on_stream_closed is not None:
                self.on_stream_closed(stream.name, stream.peer)

    def _stream_data(self, stream: _Stream, data: bytes) -> None:
        if stream.id not in self._streams:
            return
        if data == PONG:
            self.counters.pongs_received += 1
            return
        if not self._gate(stream.peer[0]):
            return
        source = Source(stream.name, stream.peer, stream.id)
        try:
            stream.framer.feed(data)
            while True:
                before = stream.framer.pings
                chunk = stream.framer.next_message()
                pings = stream.framer.pings - before
                if pings:
                    self.counters.pings_received += pings
                    stream.write(PONG * pings)
                if chunk is None:
                    break
                self._deliver(chunk, source)
        except SipFramingError as err:
            self.counters.framing_errors += 1
            log.info("closing %s connection from %s: %s", stream.name, stream.peer, err.reason)
            stream.abort()

    # -- outbound ------------------------------------------------------------------------

    async def _connection(self, transport: str, dest: Address, hostname: str | None) -> _Stream:
        key = (transport, dest)
        existing = self._by_peer.get(key)
        if existing is not None and existing.id in self._streams:
            return existing
        pending = self._connecting.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_Stream] = loop.create_future()
        self._connecting[key] = future
        try:
            context = None
            if transport == "tls":
                context = self.config.tls_client_context or ssl.create_default_context()
            _, protocol = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _Stream(self, transport, outgoing=True),
                    dest[0],
                    dest[1],
                    ssl=context,
                    server_hostname=(hostname or dest[0]) if context is not None else None,
                ),
                self.config.connect_timeout,
            )
            future.set_result(protocol)
            return protocol
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved
            raise
        finally:
            del self._connecting[key]

    async def send(
        self,
        message: Message,
        dest: Address,
        transport: str = "udp",
        *,
        hostname: str | None = None,
    ) -> str:
        """Send ``message`` to ``dest``; returns the transport actually used.

        Raises :class:`OSError` (including ``ssl.SSLError`` for a certificate that does not
        verify, ``TimeoutError`` for a connect timeout) when a connection cannot be made.
        """
        return await self.send_bytes(message.to_bytes(), dest, transport, hostname=hostname)

    async def send_bytes(
        self, data: bytes, dest: Address, transport: str = "udp", *, hostname: str | None = None
    ) -> str:
        """Send serialized SIP; a request over ``udp_max_size`` on UDP goes over TCP (§18.1.1)."""
        transport = transport.lower()
        if transport == "udp" and len(data) > self.config.udp_max_size:
            switched = _switch_to_tcp(data)
            if switched is not None:
                transport = "tcp"
                data = switched
                self.counters.udp_to_tcp += 1
        if transport == "udp":
            if self._udp is None:
                raise OSError("UDP transport is not open")
            self._udp.sendto(data, dest)
            self.counters.sent += 1
            return transport
        try:
            stream = await self._connection(transport, dest, hostname)
        except (OSError, TimeoutError):
            self.counters.send_errors += 1
            raise
        stream.write(data)
        self.counters.sent += 1
        return transport

    async def connect(
        self, dest: Address, transport: str, *, hostname: str | None = None
    ) -> Address:
        """Open (or reuse) a stream connection; returns its local address (Via/Contact)."""
        stream = await self._connection(transport.lower(), dest, hostname)
        if stream.transport is None:
            raise OSError("connection closed")
        name = stream.transport.get_extra_info("sockname")
        return (str(name[0]), int(name[1]))

    @staticmethod
    def route_local_ip(dest: Address) -> str:
        """The local IP the kernel would use to reach ``dest`` (no packet is sent)."""
        family = socket.AF_INET6 if ":" in dest[0] else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect(dest)
            return str(probe.getsockname()[0])

    def send_response(self, response: Response, source: Source) -> bool:
        """Send ``response`` back the way its request came; False if that path is gone."""
        return self.send_on_flow(response, source)

    def send_on_flow(self, message: Message, source: Source) -> bool:
        """Send over the flow a message came from: the same stream connection, or UDP back to
        the source address (symmetric routing for NATed peers). False if the flow is gone."""
        data = message.to_bytes()
        if source.transport == "udp":
            if self._udp is None:
                return False
            self._udp.sendto(data, source.address)
            self.counters.sent += 1
            return True
        stream = self._streams.get(source.connection or -1) or self._by_peer.get(
            (source.transport, source.address)
        )
        if stream is None:
            self.counters.send_errors += 1
            return False
        stream.write(data)
        self.counters.sent += 1
        return True

    async def send_keepalive(
        self, dest: Address, transport: str = "udp", *, hostname: str | None = None
    ) -> None:
        """A CRLF keep-alive: double CRLF ping on streams (answered by a pong), CRLF on UDP."""
        if transport == "udp":
            if self._udp is None:
                raise OSError("UDP transport is not open")
            self._udp.sendto(PING, dest)
        else:
            stream = await self._connection(transport, dest, hostname)
            stream.write(PING)
        self.counters.keepalives_sent += 1

    def connection_count(self) -> int:
        return len(self._streams)
