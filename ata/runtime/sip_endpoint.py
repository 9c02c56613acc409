"""asyncio driver for line registrations: transport + transaction layer + registration cores.

Theory of operation
-------------------
:class:`SipEndpoint` binds the sans-IO pieces to the loop:

* inbound: :class:`~ata.runtime.sip_transport.SipTransport` hands each parsed message to
  :class:`~ata.sip.transaction_layer.TransactionLayer` (``receive``), whose events are routed:
  responses and timeouts to the :class:`~ata.sip.registration.Registration` that owns the
  Call-ID; every other event (new requests, ACKs, CANCELs, responses and timeouts of other
  transactions) to ``event_handler`` (the UA, wired by the integrator); without one, new
  requests get OPTIONS → 200 and anything else → 501;
* outbound: requests the registrations queue go to ``TransactionLayer.send_request`` (which
  retransmits on UDP: Timer E/F), and the layer's ``datagrams_to_send`` go to the transport;
  a send that fails (connection refused, TLS verification) becomes
  ``TransactionLayer.transport_error``, i.e. a 503 for the registration, which then fails over
  to the next DNS target on its next attempt;
* time: one ``loop.call_at`` handle re-armed after every step at the earliest of the layer's
  and the registrations' timers; ``now`` is ``loop.time()`` (monotonic).

:meth:`SipEndpoint.add_registration` resolves the next hop (outbound proxy, else registrar)
with RFC 3263 (:class:`~ata.runtime.sip_dns.SipResolver`), picks the local address the kernel
routes through (UDP) or opens the connection first (TCP/TLS, so Via and Contact carry the
connection's own address), and starts the registration. :meth:`SipEndpoint.stop` un-registers
every line and waits (bounded) for the answers before closing the transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field

from ata.runtime.sip_dns import SipResolver, Target
from ata.runtime.sip_transport import SipTransport, Source, TransportConfig
from ata.sip.headers import NameAddr
from ata.sip.message import Request, Response, make_response
from ata.sip.registration import (
    BindingsReported,
    KeepAliveDue,
    Registration,
    RegistrationConfig,
    RegState,
    StateChanged,
)
from ata.sip.transaction import Outgoing, TxKey
from ata.sip.transaction_layer import (
    Event,
    RequestReceived,
    ResponseReceived,
    TransactionLayer,
    TransactionLimitError,
    TransactionTimeout,
    TransportFailed,
)
from ata.sip.uri import SipURI, parse_uri

log = logging.getLogger(__name__)

EventHandler = Callable[[Event, "SipEndpoint"], None]


@dataclass
class Line:
    """One registration with its resolved next hops and a state-change notifier."""

    registration: Registration
    targets: list[Target]
    target_index: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    history: list[StateChanged] = field(default_factory=list)
    bindings: tuple[NameAddr, ...] | None = None
    bindings_changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def target(self) -> Target:
        return self.targets[self.target_index % len(self.targets)]

    def fail_over(self) -> None:
        self.target_index = (self.target_index + 1) % len(self.targets)


class SipEndpoint:
    """Registrations over one transport; see the module docstring."""

    def __init__(
        self,
        transport_config: TransportConfig,
        *,
        resolver: SipResolver | None = None,
        layer: TransactionLayer | None = None,
        event_handler: EventHandler | None = None,
    ) -> None:
        self.transport = SipTransport(transport_config, self._on_message)
        self.resolver = resolver or SipResolver()
        self.layer = layer or TransactionLayer()
        self.event_handler = event_handler
        self.lines: list[Line] = []
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.on_state_change: Callable[[Line, StateChanged], None] | None = None
        self.transport.on_stream_closed = self._on_stream_closed
        self.reconnects = 0
        self._stopping = False

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.transport.start()

    def now(self) -> float:
        return self._loop.time() if self._loop is not None else 0.0

    async def add_registration(
        self, config: RegistrationConfig, transport: str | None = None, *, start: bool = True
    ) -> Line:
        """Resolve the next hop, pick the local address and (unless ``start=False``) start
        registering."""
        hop = config.outbound_proxy or config.request_uri
        wanted = transport or hop.transport
        targets = await self.resolver.resolve(hop.host_bare, hop.port, wanted, secure=hop.secure)
        if not targets:
            raise LookupError(f"cannot resolve {hop.host}")
        for target in targets:
            self.transport.add_trusted_source(target.address)
        index, local = await self._first_reachable(targets)
        registration = Registration(config, local, targets[index].transport)
        line = Line(registration, targets, index)
        self.lines.append(line)
        if start:
            registration.start(self.now())
            self._step()
        return line

    async def _first_reachable(self, targets: list[Target]) -> tuple[int, tuple[str, int]]:
        """(index, local address) of the first target we can use: UDP needs no connection;
        for TCP/TLS the first one that accepts a (verified) connection. Raises the last
        connection error when none does."""
        error: OSError | None = None
        for index, target in enumerate(targets):
            dest = (target.address, target.port)
            if target.transport == "udp":
                port = self.transport.local_address("udp")[1]
                return index, (SipTransport.route_local_ip(dest), port)
            try:
                local = await self.transport.connect(
                    dest, target.transport, hostname=target.hostname
                )
            except OSError as exc:  # includes TLS verification failures and timeouts
                log.info("next hop %s:%s unusable: %s", target.address, target.port, exc)
                error = exc
                continue
            return index, local
        raise error or OSError("no usable next hop")

    async def query(self, line: Line) -> tuple[NameAddr, ...]:
        """Ask the registrar which contacts are bound to the line's AOR."""
        line.bindings = None
        line.bindings_changed.clear()
        line.registration.query(self.now())
        self._step()
        while (found := _bindings_of(line)) is None:
            line.bindings_changed.clear()
            await line.bindings_changed.wait()
        return found

    async def remove_registration(self, line: Line, grace: float = 5.0) -> None:
        """Un-register one line (waiting at most ``grace`` s) and forget it."""
        line.registration.stop(self.now())
        self._step()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wait_for(line, {RegState.STOPPED}), grace)
        if line in self.lines:
            self.lines.remove(line)
        self._arm()

    def _on_stream_closed(self, transport: str, peer: tuple[str, int]) -> None:
        """A line's TCP/TLS connection to its registrar dropped: reconnect and re-register
        at once with the new connection's address (the old Contact is unreachable now)."""
        if self._stopping:
            return
        for line in self.lines:
            target = line.target
            if (target.transport, (target.address, target.port)) == (
                transport,
                peer,
            ) and line.registration.state in (RegState.REGISTERED, RegState.REFRESHING):
                self._spawn(self._reconnect(line))

    async def _reconnect(self, line: Line) -> None:
        """Reconnect with backoff (0.5 s doubling up to the line's retry interval)."""
        delay = 0.5
        while not self._stopping and line in self.lines:
            try:
                index, local = await self._first_reachable(line.targets)
            except OSError as exc:
                log.info("reconnect for %s failed: %s", line.registration.config.aor, exc)
                await asyncio.sleep(delay)  # backoff between reconnection attempts
                delay = min(delay * 2, line.registration.config.retry_interval)
                continue
            self.reconnects += 1
            line.target_index = index
            line.registration.update_local_address(local, self.now())
            self._step()
            return

    async def stop(self, grace: float = 5.0) -> None:
        """Un-register every line (waiting at most ``grace`` s), then close the transport."""
        self._stopping = True
        now = self.now()
        for line in self.lines:
            line.registration.stop(now)
        self._step()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._all_stopped(), grace)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for task in list(self._tasks):
            task.cancel()
        await self.transport.close()

    async def _all_stopped(self) -> None:
        for line in self.lines:
            await self.wait_for(line, {RegState.STOPPED})

    async def wait_for(self, line: Line, states: Iterable[RegState]) -> RegState:
        """Wait until the line's registration is in one of ``states``; returns it."""
        wanted = set(states)
        while line.registration.state not in wanted:
            line.changed.clear()
            await line.changed.wait()
        return line.registration.state

    # -- event plumbing ------------------------------------------------------------------

    def _on_message(self, message: Request | Response, source: Source) -> None:
        self.layer.receive(message, source.address, self.now(), source.transport)
        self._step()

    def _line_for(self, message: Request | Response) -> Line | None:
        for line in self.lines:
            if line.registration.owns(message):
                return line
        return None

    def _step(self) -> None:
        """Drain every queue until nothing moves, then re-arm the single timer."""
        now = self.now()
        for _ in range(100):
            moved = self._drain_layer(now)
            moved |= self._drain_lines(now)
            if not moved:
                break
        self._arm()

    def _drain_layer(self, now: float) -> bool:
        moved = False
        while (event := self.layer.next_event()) is not None:
            moved = True
            line = None
            if isinstance(event, ResponseReceived):
                line = self._line_for(event.response)
                if line is not None:
                    line.registration.receive_response(event.response, now)
            elif isinstance(event, TransactionTimeout | TransportFailed):
                line = self._line_for(event.request)
                if line is not None:
                    status = 408 if isinstance(event, TransactionTimeout) else 503
                    line.fail_over()
                    line.registration.request_failed(event.request.cseq.seq, now, status)
            if line is not None:
                continue
            if self.event_handler is not None:
                self.event_handler(event, self)
            elif isinstance(event, RequestReceived):
                self._answer_alone(event)
        for out in self.layer.datagrams_to_send():
            moved = True
            self._spawn(self._send(out))
        return moved

    def _answer_alone(self, event: RequestReceived) -> None:
        """No UA attached: answer OPTIONS (keep-alive probes) 200, anything else 501."""
        request = event.request
        status = 200 if request.method == "OPTIONS" else 501
        headers = [("Allow", "OPTIONS")] if status != 200 else []
        self.layer.send_response(
            make_response(request, status, to_tag="pi", headers=headers), self.now()
        )

    # -- API for the UA (call control) ---------------------------------------------------

    def send_request(self, request: Request, target: Target) -> TxKey:
        """Start a client transaction towards ``target``; events reach ``event_handler``."""
        key = self.layer.send_request(
            request, (target.address, target.port), self.now(), target.transport
        )
        self._step()
        return key

    def send_response(self, response: Response) -> None:
        """Answer a request received through ``event_handler`` (its server transaction)."""
        self.layer.send_response(response, self.now())
        self._step()

    def send_stateless(self, message: Request | Response, target: Target) -> None:
        """Send outside any transaction (the ACK for a 2xx)."""
        self.layer.send_stateless(message, (target.address, target.port), target.transport)
        self._step()

    def _drain_lines(self, now: float) -> bool:
        moved = False
        for line in self.lines:
            reg = line.registration
            for request in reg.requests_to_send():
                moved = True
                target = line.target
                try:
                    self.layer.send_request(
                        request, (target.address, target.port), now, target.transport
                    )
                except TransactionLimitError:
                    reg.request_failed(request.cseq.seq, now, 503, "transaction limit")
            while (event := reg.next_event()) is not None:
                moved = True
                if isinstance(event, StateChanged):
                    line.history.append(event)
                    line.changed.set()
                    log.info(
                        "line %s: %s -> %s (%s %s)",
                        reg.config.aor,
                        event.old.value,
                        event.new.value,
                        event.status,
                        event.reason,
                    )
                    if self.on_state_change is not None:
                        self.on_state_change(line, event)
                elif isinstance(event, BindingsReported):
                    line.bindings = event.contacts
                    line.bindings_changed.set()
                elif isinstance(event, KeepAliveDue):
                    target = line.target
                    self._spawn(self._keepalive(target))
        return moved

    async def _keepalive(self, target: Target) -> None:
        with contextlib.suppress(OSError):
            await self.transport.send_keepalive(
                (target.address, target.port), target.transport, hostname=target.hostname
            )

    async def _send(self, out: Outgoing) -> None:
        hostname = None
        for line in self.lines:
            if (line.target.address, line.target.port) == out.addr:
                hostname = line.target.hostname
        try:
            await self.transport.send_bytes(out.data, out.addr, out.transport, hostname=hostname)
        except OSError as exc:
            log.warning("send to %s over %s failed: %s", out.addr, out.transport, exc)
            if out.key is not None:
                self.layer.transport_error(out.key, self.now())
                self._step()

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _arm(self) -> None:
        if self._loop is None:
            return
        times = [t for t in (self.layer.get_timer(),) if t is not None]
        times += [t for line in self.lines if (t := line.registration.get_timer()) is not None]
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if times:
            when = min(times)
            self._timer = self._loop.call_at(when, self._fire, when)

    def _fire(self, when: float) -> None:
        self._timer = None
        now = max(self.now(), when)  # call_at may run a hair early (clock resolution)
        self.layer.handle_timer(now)
        for line in self.lines:
            line.registration.handle_timer(now)
        self._step()


def _bindings_of(line: Line) -> tuple[NameAddr, ...] | None:
    return line.bindings


def aor(uri: str) -> SipURI:
    """Parse a SIP URI for a RegistrationConfig (raises ValueError when it is not sip/sips)."""
    parsed = parse_uri(uri)
    if not isinstance(parsed, SipURI):
        raise ValueError(f"not a SIP URI: {uri}")
    return parsed
