"""Calls for every FXS port over one SIP endpoint: the ``CallControl`` the port drivers use.

Theory of operation
-------------------
:class:`CallManager` binds one sans-IO :class:`~ata.runtime.call_agent.LineAgent` (a
:class:`~ata.sip.ua.UserAgent`) per configured line to the shared
:class:`~ata.runtime.sip_endpoint.SipEndpoint` (one UDP/TCP/TLS transport; the endpoint keeps
doing the registrations) and to one :class:`~ata.runtime.call_media.CallMedia` (RTP) per call.

**Inbound routing.** :meth:`start` puts :meth:`_on_message` in front of the endpoint's
transport handler. Every message whose Call-ID belongs to a call of a line (a bounded
Call-ID → line table, filled when a call starts) goes to that line's agent; a new INVITE
goes through the **ghost-call gate** (:class:`CallPolicy`):

1. from an address that is not one of the proxies' resolved addresses → dropped, no answer
   (with ``transport_filter`` the transport already drops everything from such addresses);
2. not addressed to the user of a line (Request-URI or To user; with
   ``require_registration`` only a line that is registered) → dropped, no answer (or 404 when
   ``silent`` is off);

then it is handed to the line's agent, which answers 100 (transaction layer) and 180 and
reports :class:`~ata.sip.call.CallIncoming`. Other requests from a proxy go to the agent of
the line they name (else the first line), which answers them (481 for an unknown dialog, 200
for OPTIONS); responses we do not own (the REGISTER transactions') go on to the endpoint.

**Outbound.** After every input an agent's ``datagrams_to_send()`` are sent through the
endpoint's transport (a failed send becomes ``transport_error`` for the transaction); one
``loop.call_at`` timer is armed at the earliest of the agents' ``get_timer()``.

**Calls.** A port's ``place_call`` first binds an RTP pair (task), then the agent sends the
INVITE with the SDP offer naming it; digest 401/407 challenges are answered by the agent.
Agent events become port events (:mod:`ata.line.port`): ringing → ``CallProgress``, 183 with
SDP → ``CallProgress(early_media=True)``, 2xx → ``CallAnswered`` (the answer is applied to the
RTP session first), 486/600 → ``CallFailed(486)``, other failures → ``CallFailed(status)``,
BYE from the far end → ``CallEnded``; a failure of ours (no RTP port) → ``CallFailed(503)``.
An incoming call binds RTP, then the port hears ``IncomingCall`` (caller number/name from
P-Asserted-Identity, Remote-Party-ID or From; the cadence from Alert-Info). ``answer`` sends
200 with the SDP answer (488 when nothing is common, then the port hears ``CallEnded``).
``hang_up`` sends CANCEL before an answer and BYE (with ``X-RTP-Stat``) after. Events the
port caused itself (its own hang-up or reject) are not echoed back to it. Port events are
delivered with ``loop.call_soon`` so a port never re-enters its state machine. Transfers
(REFER both ways, Replaces) live in :mod:`ata.runtime.call_transfer`, the message-summary
subscription and message-waiting indication in :mod:`ata.runtime.mwi`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections import OrderedDict, deque
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, Final

from ata.dsp.cadence import cadence_for_alert_info
from ata.line import port as lp
from ata.runtime import call_transfer, mwi
from ata.runtime.call_agent import LineAgent
from ata.runtime.call_lines import (
    CallPolicy,
    CallRecord,
    LineAccount,
    LineState,
    hostport,
    line_registered,
    line_status,
    proxy_uri,
    resolver_for,
)
from ata.runtime.call_media import CallMedia
from ata.runtime.call_routing import CallRouter
from ata.runtime.sip_endpoint import SipEndpoint
from ata.runtime.sip_transport import Message, SipTransport, Source
from ata.sip import call as sc
from ata.sip.digest import DigestClient
from ata.sip.errors import SipParseError
from ata.sip.registration import RegistrationConfig
from ata.sip.sdp import AudioConfig
from ata.sip.transaction import Address, Outgoing
from ata.sip.ua_support import UaConfig
from ata.sip.uri import SipURI

__all__ = [
    "CallManager",
    "CallPolicy",
    "CallRecord",
    "LineAccount",
    "LineState",
    "PortSink",
]

log = logging.getLogger(__name__)

PortSink = Callable[[lp.Event], None]
MAX_TRACKED_CALL_IDS: Final = 512
DEFAULT_RTP_RANGE: Final = (16384, 32766)
START_RETRY_MIN: Final = 5.0  # s, first retry of a line whose proxy could not be resolved
START_RETRY_MAX: Final = 300.0


class CallManager:
    """``CallControl`` for N ports on one :class:`SipEndpoint` (see the module docstring).

    ``accounts[i]`` is port ``i``'s account (``None`` = port without SIP). Port events go to
    ``sinks[i]`` (or what :meth:`attach` set later, or ``sink_lookup(i)``). RTP binds on
    ``rtp_host`` (default: the local address the kernel routes towards the proxy) in
    ``rtp_port_range``. ``clock`` gives "now" for the sans-IO agents (default: the endpoint's
    loop time). With ``own_endpoint`` :meth:`start`/:meth:`stop` also start/stop the endpoint.
    """

    def __init__(
        self,
        endpoint: SipEndpoint,
        accounts: Sequence[LineAccount | None],
        *,
        sinks: Mapping[int, PortSink] | None = None,
        policy: CallPolicy | None = None,
        rtp_host: str | None = None,
        rtp_port_range: tuple[int, int] = DEFAULT_RTP_RANGE,
        clock: Callable[[], float] | None = None,
        own_endpoint: bool = False,
        user_agent: str = "pi-ata",
        sink_lookup: Callable[[int], PortSink | None] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.lines: list[LineState | None] = [
            None if a is None else LineState(i, a) for i, a in enumerate(accounts)
        ]
        self.sinks: dict[int, PortSink] = dict(sinks or {})
        self._sink_lookup = sink_lookup
        # Called with (port call_id, RTP report) when a call that carried media is over
        # (e.g. ``CallLog.attach_rtp``).
        self.on_media_closed: Callable[[str, dict[str, Any]], None] | None = None
        self.policy = policy or CallPolicy()
        self.rtp_host = rtp_host
        self.rtp_port_range = rtp_port_range
        self._clock = clock or endpoint.now
        self._own_endpoint = own_endpoint
        self._user_agent = user_agent
        self.calls: dict[str, CallRecord] = {}
        self._owner: OrderedDict[tuple[str, str], int] = OrderedDict()  # (Call-ID, tag)
        self._fallback: Callable[[Message, Source], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._pumped = asyncio.Event()  # set after every pump (stop() waits on it)
        self.counters: dict[str, int] = dict.fromkeys(
            (
                "ghost_source",
                "ghost_user",
                "calls_in",
                "calls_out",
                "send_errors",
                "media_errors",
                "sink_errors",
                "dropped_malformed",
            ),
            0,
        )
        self._router = CallRouter(
            self.lines, self.policy, self._owner, self.counters, self.registered
        )
        # INVITE sent -> 2xx received, seconds, for the last outgoing calls (status, benches)
        self.setup_times: deque[float] = deque(maxlen=256)

    # == life cycle =============================================================================

    def attach(self, port: int, sink: PortSink) -> None:
        """Where port ``port``'s call events go (``PortDriver.call_event``)."""
        self.sinks[port] = sink

    async def start(self) -> None:
        """Start the endpoint if we own it, take over inbound routing, resolve the proxies,
        start the registrations and build one agent per line."""
        self._loop = asyncio.get_running_loop()
        if self._own_endpoint:
            await self.endpoint.start()
        transport = self.endpoint.transport
        if self._fallback is None:
            self._fallback = transport.handler
            transport.handler = self._on_message
        for line in self.lines:
            if line is not None and not await self._try_start_line(line):
                self._spawn(self._retry_line(line))

    async def _try_start_line(self, line: LineState) -> bool:
        try:
            await self._start_line(line)
        except (LookupError, OSError) as exc:
            # No DNS or no route at boot must not stop the ATA: the line retries.
            log.error("line %d: cannot start (%s); retrying", line.port + 1, exc)
            line.agent = None
            return False
        return True

    async def _retry_line(self, line: LineState) -> None:
        delay = START_RETRY_MIN
        while line.agent is None:
            await asyncio.sleep(delay)  # back-off between attempts, not media pacing
            if await self._try_start_line(line):
                return
            delay = min(delay * 2, START_RETRY_MAX)

    async def _start_line(self, line: LineState) -> None:
        acc = line.account
        domain_host, domain_port = hostport(acc.domain)
        hop_host, hop_port = hostport(acc.proxy or acc.domain)
        targets = await self.endpoint.resolver.resolve(hop_host, hop_port, acc.transport)
        if not targets:
            raise LookupError(f"cannot resolve the proxy of line {line.port + 1}")
        line.proxy = (targets[0].address, targets[0].port)
        trusted = {t.address for t in targets}
        outbound: Address | None = None
        if acc.outbound_proxy:
            ob_host, ob_port = hostport(acc.outbound_proxy)
            ob_targets = await self.endpoint.resolver.resolve(ob_host, ob_port, acc.transport)
            if ob_targets:
                outbound = (ob_targets[0].address, ob_targets[0].port)
                trusted |= {t.address for t in ob_targets}
        line.trusted = frozenset(trusted)
        for ip in trusted:
            self.endpoint.transport.add_trusted_source(ip)
        if self.policy.proxy_sources_only and self.policy.transport_filter:
            everyone = set().union(*(ln.trusted for ln in self.lines if ln is not None))
            self.endpoint.transport.set_allowed_sources(sorted(everyone))
        if acc.transport == "udp":
            port = self.endpoint.transport.local_address("udp")[1]
            line.local = (SipTransport.route_local_ip(line.proxy), port)
        else:
            line.local = await self.endpoint.transport.connect(
                outbound or line.proxy, acc.transport, hostname=targets[0].hostname
            )
        config = UaConfig(
            user=acc.user,
            domain=acc.domain,
            local_host=line.local[0],
            local_port=line.local[1],
            transport=acc.transport,
            display_name=acc.display_name,
            outbound_proxy=outbound,
            audio=self._audio(line, 0),
            user_agent=self._user_agent,
            max_calls=acc.max_calls,
        )
        creds = DigestClient(acc.auth_user or acc.user, acc.password) if acc.password else None
        line.agent = LineAgent(config, credentials=creds, resolver=resolver_for(line))
        if acc.register:
            aor = SipURI(domain_host, user=acc.user, port=domain_port)
            reg = RegistrationConfig(
                aor=aor,
                password=acc.password,
                auth_username=acc.auth_user or None,
                registrar=SipURI(domain_host, port=domain_port),
                outbound_proxy=proxy_uri(acc),
                display_name=acc.display_name or None,
                expires=acc.expires,
                user_agent=self._user_agent,
            )
            line.registration = await self.endpoint.add_registration(reg, acc.transport)
        self._spawn(mwi.subscribe_when_registered(self, line))

    def update_account(self, port: int, account: LineAccount) -> None:
        """Take changed call settings (DTMF mode, codecs, display name, jitter buffer, MWI
        URI, ...) into use on one port without registering again: calls in progress keep what
        they negotiated, the next call uses the new settings. Changes to the identity or the
        registration go through :meth:`replace_line` instead."""
        line = self._line(port)
        if line is None:
            return
        line.account = account
        if line.agent is not None:
            line.agent.config = dataclasses.replace(
                line.agent.config,
                display_name=account.display_name,
                audio=self._audio(line, 0),
                max_calls=account.max_calls,
            )

    async def replace_line(self, port: int, account: LineAccount | None) -> None:
        """Take a changed account into use on one port: its calls end, the old account
        un-registers and the new one registers; other ports and their calls are untouched."""
        old = self._line(port)
        if old is not None:
            for record in list(self.calls.values()):
                if record.port == port and not record.ended:
                    self.hang_up(record.call_id)
            mwi.unsubscribe(self, old)
            if old.registration is not None:
                await self.endpoint.remove_registration(old.registration)
        self.lines.extend([None] * (port + 1 - len(self.lines)))
        new = None if account is None else LineState(port, account)
        self.lines[port] = new
        if new is not None and not await self._try_start_line(new):
            self._spawn(self._retry_line(new))

    async def stop(self, grace: float = 2.0) -> None:
        """Hang up every call, wait (bounded) for the BYEs to be answered, stop."""
        mwi.unsubscribe(self)
        for record in list(self.calls.values()):
            if not record.ended:
                self.hang_up(record.call_id)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._quiesce(), grace)
        for record in list(self.calls.values()):
            if record.media is not None:
                await record.media.close("shutdown")
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending = [t for t in self._tasks if not t.done()]
        if pending:  # media closes and last sends finish in a loop turn or two
            await asyncio.wait(pending, timeout=0.5)
        for task in list(self._tasks):
            task.cancel()
        if self._own_endpoint:
            await self.endpoint.stop(grace=grace)
        if self._fallback is not None:
            self.endpoint.transport.handler = self._fallback
            self._fallback = None

    async def _quiesce(self) -> None:
        while any(
            line is not None and line.agent is not None and line.agent.calls for line in self.lines
        ):
            self._pumped.clear()
            await self._pumped.wait()

    def now(self) -> float:
        return self._clock()

    def status(self) -> list[dict[str, Any]]:
        """Per port: registration state and current calls (for the API)."""
        return [line_status(line, self.calls.values()) for line in self.lines]

    def registered(self, port: int) -> bool:
        line = self._line(port)
        return line is not None and line_registered(line)

    # == CallControl ============================================================================

    def place_call(self, port: int, call_id: str, number: str) -> None:
        line = self._line(port)
        if line is None or line.agent is None or call_id in self.calls:
            self._tell(port, lp.CallFailed(call_id, 404 if line is None else 503, "no line"))
            return
        record = CallRecord(call_id, port, incoming=False, setup_started=self.now())
        self.calls[call_id] = record
        self.counters["calls_out"] += 1
        self._spawn(self._place(line, record, number))

    async def _place(self, line: LineState, record: CallRecord, number: str) -> None:
        agent = line.agent
        if agent is None:
            return
        try:
            record.media = await self._open_media(line, record)
        except OSError as exc:
            log.warning("port %d: no RTP port for a call: %s", line.port + 1, exc)
            self.counters["media_errors"] += 1
            self._finish(record)
            self._tell(line.port, lp.CallFailed(record.call_id, 503, "no media port"))
            return
        if record.local_end:  # the port hung up while we were binding
            self._finish(record)
            return
        now = self.now()
        record.setup_started = now
        if agent.place_call_with(record.call_id, number, self._audio(line, record.media), now):
            call = agent.calls[record.call_id]
            record.sip_call_id = call.call_id
            self._track(call.call_id, call.local_tag, line.port)
        self._pump(line)

    def answer(self, call_id: str) -> None:
        record = self.calls.get(call_id)
        line = self._line(record.port) if record is not None else None
        if record is None or line is None or line.agent is None or record.media is None:
            return
        record.answered_at = self.now()
        line.agent.answer_with(call_id, self._audio(line, record.media), self.now())
        self._pump(line)

    def reject(self, call_id: str, status: int) -> None:
        record = self.calls.get(call_id)
        line = self._line(record.port) if record is not None else None
        if record is None or line is None or line.agent is None:
            return
        record.local_end = True
        line.agent.reject(call_id, status, self.now())
        self._pump(line)

    def hang_up(self, call_id: str) -> None:
        record = self.calls.get(call_id)
        line = self._line(record.port) if record is not None else None
        if record is None or line is None or line.agent is None:
            return
        record.local_end = True
        call_transfer.hang_up_legs(self, call_id)
        agent = line.agent
        if record.media is not None and agent.call_state(call_id) is sc.CallState.CONNECTED:
            agent.set_bye_headers(call_id, [("X-RTP-Stat", record.media.summary())])
        if call_id in agent.calls:
            agent.hang_up(call_id, self.now())
        elif not record.sip_call_id:
            return  # still binding RTP: _place sees local_end and stops there
        self._pump(line)
        self._finish(record)

    def send_dtmf(self, call_id: str, key: str) -> None:
        record = self.calls.get(call_id)
        line = self._line(record.port) if record is not None else None
        if record is None or line is None or line.agent is None or record.media is None:
            return
        record.dtmf_sent.append(key)
        if record.media.send_dtmf(key) == "info":
            line.agent.send_info_dtmf(call_id, key, 100, self.now())
            self._pump(line)

    def send_flash(self, call_id: str) -> None:
        record = self.calls.get(call_id)
        line = self._line(record.port) if record is not None else None
        if record is None or line is None or line.agent is None or record.media is None:
            return
        if line.account.dtmf_mode == "info" or not record.media.send_flash():
            line.agent.send_info_dtmf(call_id, "16", 250, self.now())
            self._pump(line)

    def transfer(self, call_id: str, target: str) -> bool:
        """Blind transfer (REFER) of a connected call; see :mod:`ata.runtime.call_transfer`."""
        return call_transfer.transfer(self, call_id, target)

    def attended_transfer(self, call_id: str, consult_call_id: str) -> bool:
        """REFER with Replaces: connect the far ends of two of our calls (RFC 3891)."""
        return call_transfer.attended_transfer(self, call_id, consult_call_id)

    def hold(self, call_id: str) -> None:
        call_transfer.hold(self, call_id, hold=True)

    def resume(self, call_id: str) -> None:
        call_transfer.hold(self, call_id, hold=False)

    def media(self, call_id: str) -> CallMedia | None:
        record = self.calls.get(call_id)
        return None if record is None else record.media

    # == inbound routing ========================================================================

    def _on_message(self, message: Message, source: Source) -> None:
        port = self._router.route(message, source)
        if port is None:
            return
        line = self._line(port) if port >= 0 else None
        if line is None or line.agent is None:
            if self._fallback is not None:
                try:
                    self._fallback(message, source)
                except SipParseError:  # e.g. a response without CSeq: drop and count
                    self.counters["dropped_malformed"] += 1
            return
        line.agent.receive_message(message, source.address, self.now(), source.transport)
        self._pump(line)

    def _track(self, call_id: str, tag: str, port: int) -> None:
        key = (call_id, tag)
        self._owner[key] = port
        self._owner.move_to_end(key)
        while len(self._owner) > MAX_TRACKED_CALL_IDS:
            self._owner.popitem(last=False)

    # == the agents' output =====================================================================

    def _pump(self, line: LineState) -> None:
        agent = line.agent
        if agent is None:
            return
        for _ in range(100):
            moved = False
            for out in agent.datagrams_to_send():
                moved = True
                self._send(line, out)
            while (event := agent.next_event()) is not None:
                moved = True
                self._on_call_event(line, event)
            if not moved:
                break
        self._pumped.set()
        self._arm()

    def _send(self, line: LineState, out: Outgoing) -> None:
        # Tasks run in creation order, so datagrams leave in the agent's order.
        self._spawn(self._send_async(line, out))

    async def _send_async(self, line: LineState, out: Outgoing) -> None:
        try:
            await self.endpoint.transport.send_bytes(out.data, out.addr, out.transport)
        except OSError:
            self._send_failed(line, out)
            self._pump(line)

    def _send_failed(self, line: LineState, out: Outgoing) -> None:
        self.counters["send_errors"] += 1
        if out.key is not None and line.agent is not None:
            line.agent.tx.transport_error(out.key, self.now())

    def _on_call_event(self, line: LineState, event: sc.CallEvent) -> None:
        if isinstance(event, sc.CallIncoming):
            self._incoming(line, event)
            return
        if isinstance(event, call_transfer.LINE_EVENTS):  # transfers, message waiting
            call_transfer.line_event(self, line, event)
            return
        record = self.calls.get(event.handle)
        if record is None or call_transfer.leg_event(self, line, record, event):
            return
        match event:
            case sc.CallRinging():
                self._tell(line.port, lp.CallProgress(record.call_id, early_media=False))
            case sc.CallEarlyMedia(media=media):
                if record.media is not None:
                    record.media.apply(media)
                self._tell(line.port, lp.CallProgress(record.call_id, early_media=True))
            case sc.MediaUpdate(media=media):
                if record.media is not None:
                    record.media.apply(media)
            case sc.CallAnswered():
                self.setup_times.append(self.now() - record.setup_started)
                self._tell(line.port, lp.CallAnswered(record.call_id))
            case sc.CallFailed(status=status, reason=reason):
                self._finish(record)
                if not record.local_end:
                    mapped = 486 if status in (486, 600) else status
                    self._tell(line.port, lp.CallFailed(record.call_id, mapped, reason))
            case sc.CallEnded(cause=cause):
                self._finish(record)
                if not record.local_end and (record.port_told or not record.incoming):
                    self._tell(line.port, lp.CallEnded(record.call_id, cause))
            case sc.DtmfReceived(key=key):
                self._tell(line.port, lp.RemoteDtmf(record.call_id, key))
            case sc.CallHeld() | sc.CallResumed():
                log.info("port %d: %s", line.port + 1, type(event).__name__)

    def _incoming(self, line: LineState, event: sc.CallIncoming) -> None:
        record = CallRecord(event.handle, line.port, incoming=True, setup_started=self.now())
        agent = line.agent
        if agent is None:
            return
        call = agent.calls.get(event.handle)
        if call is not None:
            record.sip_call_id = call.call_id
            self._track(call.call_id, call.local_tag, line.port)
        self.calls[event.handle] = record
        self.counters["calls_in"] += 1
        if event.replaces and event.replaces in self.calls:
            record.transfer_of = event.replaces  # RFC 3891: takes over a call, no ringing
            self._spawn(call_transfer.answer_replacing(self, line, record))
            return
        if self._sink(line.port) is None:
            record.local_end = True
            agent.reject(event.handle, 480, self.now())
            return
        cadence_spec = cadence_for_alert_info(", ".join(event.alert_info) or None)
        announce = lp.IncomingCall(
            event.handle,
            number=event.number,
            name=event.name,
            cadence=cadence_spec.segments if cadence_spec is not None else None,
            withheld=event.withheld,
        )
        self._spawn(self._ring(line, record, announce))

    async def _ring(self, line: LineState, record: CallRecord, announce: lp.IncomingCall) -> None:
        try:
            record.media = await self._open_media(line, record)
        except OSError as exc:
            log.warning("port %d: no RTP port for an incoming call: %s", line.port + 1, exc)
            self.counters["media_errors"] += 1
            if line.agent is not None:
                record.local_end = True
                line.agent.reject(record.call_id, 503, self.now())
                self._pump(line)
            return
        if record.ended:  # cancelled while we were binding
            await record.media.close("cancelled")
            return
        record.port_told = True
        self._tell(line.port, announce)

    # == media ==================================================================================

    async def _open_media(self, line: LineState, record: CallRecord) -> CallMedia:
        def on_dtmf(key: str) -> None:
            if not record.ended:
                self._tell(record.port, lp.RemoteDtmf(record.call_id, key))

        return await CallMedia.open(
            host=self.rtp_host or line.local[0],
            port_range=self.rtp_port_range,
            codec=line.account.codecs[0] if line.account.codecs else "PCMU",
            dtmf_mode=line.account.dtmf_mode,
            on_dtmf=on_dtmf,
            jitter=line.account.jitter,
            align=line.account.phase_alignment,
        )

    def _audio(self, line: LineState, media: CallMedia | int | None) -> AudioConfig:
        port = media.local_port if isinstance(media, CallMedia) else int(media or 0) or 4000
        return AudioConfig(
            address=self.rtp_host or line.local[0],
            port=port,
            codecs=tuple(c.upper() for c in line.account.codecs),
        )

    def _finish(self, record: CallRecord) -> None:
        """The call is over: close its media (async) and forget it."""
        if record.ended:
            return
        record.ended = True
        self.calls.pop(record.call_id, None)
        if record.media is not None:
            self._spawn(self._close_media(record.call_id, record.media))

    async def _close_media(self, call_id: str, media: CallMedia) -> None:
        summary = await media.close()
        log.info("call %s media: %s", call_id, summary)
        if self.on_media_closed is not None and media.frames_sent + media.frames_pulled > 0:
            stats = media.rtp.stats()
            report: dict[str, Any] = {
                "summary": summary,
                "packets_sent": stats.packets_sent,
                "packets_received": stats.packets_received,
                "lost": stats.lost,
                "jitter_ms": round(stats.jitter_ms, 1),
                "duration_s": round(stats.duration_s, 1),
                "codec": "PCMU" if media.rtp.media.payload_type == 0 else "PCMA",
            }
            try:
                self.on_media_closed(call_id, report)
            except Exception:  # an observer must not break call teardown
                log.exception("on_media_closed observer failed")

    # == plumbing ===============================================================================

    def _line(self, port: int) -> LineState | None:
        return self.lines[port] if 0 <= port < len(self.lines) else None

    def _sink(self, port: int) -> PortSink | None:
        sink = self.sinks.get(port)
        if sink is None and self._sink_lookup is not None:
            sink = self._sink_lookup(port)
        return sink

    def _tell(self, port: int, event: lp.Event) -> None:
        sink = self._sink(port)
        if sink is None:
            return
        loop = self._loop or asyncio.get_running_loop()
        loop.call_soon(self._deliver, sink, event)

    def _deliver(self, sink: PortSink, event: lp.Event) -> None:
        try:
            sink(event)
        except Exception:  # a port bug must not stop the SIP side for the other ports
            self.counters["sink_errors"] += 1
            log.exception("port sink failed on %s", type(event).__name__)

    def _arm(self) -> None:
        if self._loop is None:
            return
        times = [
            t
            for line in self.lines
            if line is not None and line.agent is not None
            if (t := line.agent.get_timer()) is not None
        ]
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if times:
            self._timer = self._loop.call_at(min(times), self._fire)

    def _fire(self) -> None:
        self._timer = None
        now = self.now()
        for line in self.lines:
            if line is not None and line.agent is not None:
                timer = line.agent.get_timer()
                if timer is not None and timer <= now + 0.001:
                    line.agent.handle_timer(max(now, timer))
                    self._pump(line)
        self._arm()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
