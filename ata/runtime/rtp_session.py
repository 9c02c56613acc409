"""asyncio driver of one call's media: a UDP port pair around a sans-IO MediaSession.

Theory of operation
-------------------
:meth:`RtpSession.open` binds the RTP socket on an even port and RTCP on the next one
(``port=None``: a free pair is picked in ``port_range``). Datagrams are handed to the
:class:`~ata.media.session.MediaSession` with ``now = loop.time()`` (monotonic); the session
never raises on bad input, and the driver still guards every datagram so one surprise cannot
stop the stream (counted in ``driver_errors`` and logged).

Timers: after every call into the session, the single RTCP/DTMF timer is re-armed with
``loop.call_at(session.get_timer())``.

Pacing: :meth:`RtpSession.run` loops on a **frame source** (see ``ata.runtime.media_clock``):
``frame = await source.read_frame()`` (the codec or the software sample clock decides when),
then ``send_frame(frame)`` (one RTP packet, timestamp + 160) and, when a sink is given,
``sink.write_frame(pull_frame())`` (the jitter buffer is pulled once per captured frame, so
capture and playout share the one clock). Integrators that need the frame in between (echo
canceller, DTMF detector) call :meth:`send_frame` and :meth:`pull_frame` from their own loop
instead of :meth:`run`.

Per packet the hot path is: parse, one numpy lookup, one ring-buffer copy; sends are
``transport.sendto`` of bytes built by one ``struct.pack``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, cast

import numpy as np
import numpy.typing as npt

from ata.media.events import MediaEvent, MediaStats
from ata.media.latch import Addr
from ata.media.session import PT_PCMA, PT_PCMU, MediaConfig, MediaSession
from ata.runtime.media_clock import FrameSink, FrameSource
from ata.sip.sdp import NegotiatedAudio
from hal.audio import AudioClosedError

__all__ = ["RtpSession", "media_config"]

log = logging.getLogger(__name__)

Frame = npt.NDArray[np.int16]
DEFAULT_PORT_RANGE: Final = (16384, 32766)


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, Addr], None]) -> None:
        self._on_datagram = on_datagram
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport does not subclass DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self._on_datagram(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable etc. while the far end is not listening yet: not fatal.
        log.debug("media socket error: %s", exc)


class RtpSession:
    """One call's media on a UDP port pair."""

    def __init__(
        self,
        media: MediaSession,
        rtp: _Endpoint,
        rtcp: _Endpoint,
        loop: asyncio.AbstractEventLoop,
        on_event: Callable[[MediaEvent], None] | None = None,
    ) -> None:
        self.media = media
        self._rtp = rtp
        self._rtcp = rtcp
        self._loop = loop
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self.on_event = on_event
        self.driver_errors = 0
        self._closed = False
        rtp_tr, rtcp_tr = rtp.transport, rtcp.transport
        if rtp_tr is None or rtcp_tr is None:
            raise RuntimeError("endpoints not connected")
        self._rtp_tr = rtp_tr
        self._rtcp_tr = rtcp_tr
        self.local_rtp: Addr = _sockname(rtp_tr)
        self.local_rtcp: Addr = _sockname(rtcp_tr)

    # -- construction ----------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        config: MediaConfig,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        port_range: tuple[int, int] = DEFAULT_PORT_RANGE,
        on_event: Callable[[MediaEvent], None] | None = None,
    ) -> RtpSession:
        """Bind RTP on ``port`` (even) and RTCP on ``port + 1``; ``None`` picks a free pair."""
        loop = asyncio.get_running_loop()
        if config.wallclock_offset == 0.0:
            config = dataclasses.replace(config, wallclock_offset=time.time() - loop.time())
        holder: dict[str, RtpSession] = {}

        def on_rtp(data: bytes, addr: Addr) -> None:
            holder["s"]._on_rtp(data, addr)

        def on_rtcp(data: bytes, addr: Addr) -> None:
            holder["s"]._on_rtcp(data, addr)

        candidates = [port] if port is not None else _port_candidates(port_range)
        last_error: OSError | None = None
        for p in candidates:
            if p % 2:
                raise ValueError("the RTP port must be even")
            try:
                _, rtp_ep = await loop.create_datagram_endpoint(
                    lambda: _Endpoint(on_rtp), local_addr=(host, p)
                )
            except OSError as exc:
                last_error = exc
                continue
            try:
                _, rtcp_ep = await loop.create_datagram_endpoint(
                    lambda: _Endpoint(on_rtcp), local_addr=(host, p + 1)
                )
            except OSError as exc:
                last_error = exc
                if rtp_ep.transport is not None:
                    rtp_ep.transport.close()
                continue
            session = cls(MediaSession(config), rtp_ep, rtcp_ep, loop, on_event)
            holder["s"] = session
            session.media.handle_timer(loop.time())
            session._arm()
            return session
        raise OSError(f"no free RTP/RTCP port pair on {host}") from last_error

    # -- datagrams and timers --------------------------------------------------------------

    def _on_rtp(self, data: bytes, addr: Addr) -> None:
        try:
            self.media.receive_rtp(data, addr, self._loop.time())
        except Exception:
            self.driver_errors += 1
            log.exception("RTP datagram from %s dropped", addr)
        self._after()

    def _on_rtcp(self, data: bytes, addr: Addr) -> None:
        try:
            self.media.receive_rtcp(data, addr, self._loop.time())
        except Exception:
            self.driver_errors += 1
            log.exception("RTCP datagram from %s dropped", addr)
        self._after()

    def _after(self) -> None:
        self._drain_events()
        self._arm()

    def _drain_events(self) -> None:
        while (event := self.media.next_event()) is not None:
            if self.on_event is not None:
                self.on_event(event)
            else:
                log.debug("media event %s", event)

    def _arm(self) -> None:
        when = self.media.get_timer()
        if when == self._timer_at and self._timer is not None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = when
        if when is not None and not self._closed:
            self._timer = self._loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        for data, addr in self.media.handle_timer(self._loop.time()):
            self._rtcp_tr.sendto(data, addr)
        self._after()

    # -- media ------------------------------------------------------------------------------

    def send_frame(
        self, frame: Frame, frame_index: int | None = None, *, silent: bool = False
    ) -> None:
        """Send one captured frame now. With the codec's ``frame_index`` the RTP timestamp
        is ``ts0 + 160 × (index − first index)``; without it, + 160 per call."""
        sendto = self._rtp_tr.sendto
        now = self._loop.time()
        for data, addr in self.media.send_frame(frame, now, silent=silent, frame_index=frame_index):
            sendto(data, addr)

    def pull_frame(self) -> Frame:
        """The next 20 ms to play (jitter buffer, PLC, comfort noise or silence)."""
        frame = self.media.pull_frame(self._loop.time())
        self._drain_events()
        return frame

    def phase_advance(self) -> float:
        """Seconds to move the playout frame grid earlier now (``ata.media.phase``)."""
        return self.media.phase_advance()

    def phase_advanced(self, seconds: float) -> None:
        self.media.phase_advanced(seconds, self._loop.time())

    # ``ata.runtime.port_driver.MediaLeg`` names.
    def playout_frame(self) -> Frame:
        return self.pull_frame()

    def send_dtmf(self, event: int | str, duration_ms: int = 100) -> None:
        self.media.send_dtmf(event, duration_ms, self._loop.time())

    async def run(
        self,
        source: FrameSource,
        sink: FrameSink | None = None,
        *,
        frames: int | None = None,
    ) -> None:
        """Send every captured frame and play one pulled frame per captured frame."""
        count = 0
        # A HAL AudioPort also offers read_captured() with the codec frame index.
        read_captured = getattr(source, "read_captured", None)
        while not self._closed and (frames is None or count < frames):
            index: int | None = None
            try:
                if read_captured is not None:
                    captured = await read_captured()
                    frame, index = captured.samples, int(captured.index)
                else:
                    frame = await source.read_frame()
            except (EOFError, AudioClosedError):
                return
            if self.closed:
                return
            self.send_frame(frame, index)
            played = self.pull_frame()
            if sink is not None:
                sink.write_frame(played)
                self._align(source)
            count += 1

    def _align(self, port: object) -> None:
        """Carry out a playout phase request on ``port`` (when it can move its frame grid)."""
        request = self.media.phase_advance()
        if request != 0.0:
            advance = getattr(port, "advance_phase", None)
            applied = float(advance(request)) if advance is not None else 0.0
            self.media.phase_advanced(applied, self._loop.time())

    def apply(self, negotiated: NegotiatedAudio) -> None:
        """A new offer/answer (re-INVITE, UPDATE, hold/resume): address, codec, direction."""
        if negotiated.remote_rtp is not None and negotiated.remote_rtp != self.media.remote_rtp:
            self.media.set_remote(negotiated.remote_rtp)
        self.media.set_payload_type(_payload_type(negotiated))
        if negotiated.telephone_event_pt != self.media.config.telephone_event_pt:
            self.media.set_telephone_event_pt(negotiated.telephone_event_pt)
        direction = negotiated.direction
        self.media.set_direction(
            send=direction.sends and negotiated.remote_address is not None,
            receive=direction.receives,
        )

    @property
    def closed(self) -> bool:
        return self._closed

    def stats(self) -> MediaStats:
        return self.media.stats(self._loop.time())

    def summary(self) -> str:
        return self.media.summary(self._loop.time())

    async def close(self, reason: str = "") -> str:
        """Send RTCP BYE, close both sockets; returns the X-RTP-Stat style summary."""
        if self._closed:
            return self.summary()
        for data, addr in self.media.close(self._loop.time(), reason):
            self._rtcp_tr.sendto(data, addr)
        summary = self.summary()
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        # Let the BYE leave before the socket closes.
        await asyncio.sleep(0)
        self._rtp_tr.close()
        self._rtcp_tr.close()
        return summary

    async def __aenter__(self) -> RtpSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            await self.close()


def _payload_type(negotiated: NegotiatedAudio) -> int:
    name = negotiated.codec.name.upper()
    if name == "PCMU":
        return PT_PCMU
    if name == "PCMA":
        return PT_PCMA
    raise ValueError(f"codec {negotiated.codec.name} is not G.711")


def media_config(negotiated: NegotiatedAudio, *, local_ssrc: int, **options: Any) -> MediaConfig:
    """A :class:`MediaConfig` from an SDP offer/answer result (``ata.sip.sdp``).

    ``options`` are further MediaConfig fields (``cname``, ``jitter``, ``initial_seq``, ...).
    G.711 is identified by name; it is always sent with its static payload type (0 or 8).
    """
    return MediaConfig(
        local_ssrc=local_ssrc,
        payload_type=_payload_type(negotiated),
        remote_rtp=negotiated.remote_rtp,
        telephone_event_pt=negotiated.telephone_event_pt,
        **options,
    )


def _sockname(transport: asyncio.DatagramTransport) -> Addr:
    name = transport.get_extra_info("sockname")
    return (str(name[0]), int(name[1]))


if TYPE_CHECKING:
    from ata.runtime.port_driver import MediaLeg

    def _is_media_leg(session: RtpSession) -> MediaLeg:
        return session  # mypy checks that RtpSession satisfies the port's MediaLeg protocol


def _port_candidates(port_range: tuple[int, int], tries: int = 64) -> list[int]:
    low, high = port_range
    rng = random.Random()
    evens = (low + 1) // 2, (high - 1) // 2
    return [2 * rng.randint(*evens) for _ in range(tries)]
