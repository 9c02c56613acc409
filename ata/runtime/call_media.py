"""One call's media leg for a port: an :class:`~ata.runtime.rtp_session.RtpSession` plus the
line's DTMF mode, shaped as the port driver's ``MediaLeg``.

Theory of operation
-------------------
The RTP socket pair is bound **before** the SDP that advertises it is written: for an outgoing
call before the INVITE (our offer names the port), for an incoming call as soon as the INVITE
arrives (the answer names it). Until the offer/answer completes, the session has no remote
address and sends nothing. :meth:`CallMedia.apply` then takes each
:class:`~ata.sip.sdp.NegotiatedAudio` (early media, answer, re-INVITE): codec (PCMU/PCMA),
remote RTP address, direction (hold), and the telephone-event payload type.

The port calls :meth:`send_frame` once per captured frame and :meth:`pull_frame` once per
played frame (the codec clock paces both; nothing here reads the time).

DTMF towards the far end (:meth:`send_dtmf`), by the line's mode:

* ``rfc4733``: telephone-event packets (when the peer accepted ``telephone-event``; else the
  digit falls back to in-band);
* ``inband``: the captured audio is replaced by the digit's tone pair (100 ms on, 100 ms
  off) for as long as the generator is busy;
* ``info``: SIP INFO; the call manager sends it, this leg does nothing.

Received RFC 4733 events are reported once per digit (``on_dtmf(key)``) when the event starts.
After :meth:`close` the leg is inert: sends are dropped, pulls return silence.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Callable
from typing import Final

import numpy as np
import numpy.typing as npt

from ata.dsp.dtmf import DtmfGenerator
from ata.dsp.levels import FRAME_SAMPLES
from ata.media.events import DtmfStarted, MediaEvent
from ata.media.jitter import JitterConfig
from ata.media.phase import AlignerConfig
from ata.media.session import MediaConfig
from ata.runtime.rtp_session import RtpSession
from ata.sip.sdp import NegotiatedAudio

log = logging.getLogger(__name__)

Frame = npt.NDArray[np.int16]
DTMF_MODES: Final = ("rfc4733", "inband", "info")
PAYLOAD_TYPES: Final = {"PCMU": 0, "PCMA": 8}
DEFAULT_TELEPHONE_EVENT_PT: Final = 101


class CallMedia:
    """The ``MediaLeg`` of one call (see the module docstring)."""

    def __init__(
        self,
        rtp: RtpSession,
        dtmf_mode: str = "rfc4733",
        on_dtmf: Callable[[str], None] | None = None,
    ) -> None:
        if dtmf_mode not in DTMF_MODES:
            raise ValueError(f"unknown DTMF mode {dtmf_mode!r}")
        self.rtp = rtp
        self.dtmf_mode = dtmf_mode
        self.on_dtmf = on_dtmf
        self.negotiated: NegotiatedAudio | None = None
        self._inband = DtmfGenerator(level_dbm0=-8.0, twist_db=2.0, on_ms=100.0, off_ms=100.0)
        self._silence = np.zeros(FRAME_SAMPLES, np.int16)
        self._summary = ""
        self.frames_sent = 0
        self.frames_pulled = 0
        rtp.on_event = self._on_media_event

    @classmethod
    async def open(
        cls,
        *,
        host: str,
        port_range: tuple[int, int],
        codec: str = "PCMU",
        dtmf_mode: str = "rfc4733",
        cname: str = "pi-ata",
        on_dtmf: Callable[[str], None] | None = None,
        jitter: JitterConfig | None = None,
        align: bool = True,
    ) -> CallMedia:
        """Bind an RTP/RTCP pair in ``port_range`` on ``host`` (no remote address yet)."""
        config = MediaConfig(
            jitter=jitter or JitterConfig(),
            align=AlignerConfig(enabled=align),
            local_ssrc=secrets.randbits(32),
            payload_type=PAYLOAD_TYPES.get(codec.upper(), 0),
            telephone_event_pt=DEFAULT_TELEPHONE_EVENT_PT,
            cname=cname,
            initial_seq=secrets.randbits(16),
            initial_timestamp=secrets.randbits(32),
            seed=secrets.randbits(31),
        )
        rtp = await RtpSession.open(config, host=host, port_range=port_range)
        return cls(rtp, dtmf_mode, on_dtmf)

    @property
    def local_port(self) -> int:
        return self.rtp.local_rtp[1]

    @property
    def closed(self) -> bool:
        return self.rtp.closed

    # -- offer/answer -----------------------------------------------------------------------

    def apply(self, media: NegotiatedAudio) -> None:
        """Use the outcome of an offer/answer exchange (codec, remote address, direction)."""
        self.negotiated = media
        session = self.rtp.media
        if media.telephone_event_pt != session.config.telephone_event_pt:
            # MediaSession has no setter for the event payload type: replace its config and
            # let set_payload_type() recompute the accepted payload types.
            session.config = dataclasses.replace(
                session.config, telephone_event_pt=media.telephone_event_pt
            )
        if media.codec.payload_type in (0, 8):
            session.set_payload_type(media.codec.payload_type)
        else:
            session.set_payload_type(PAYLOAD_TYPES.get(media.codec.name.upper(), 0))
        target = media.remote_address or media.remote_rtp
        if target is not None and target != session.remote_rtp:
            session.set_remote(target)
        session.set_direction(send=media.direction.sends, receive=media.direction.receives)

    # -- MediaLeg ---------------------------------------------------------------------------

    def send_frame(
        self, frame: Frame, *, silent: bool = False, frame_index: int | None = None
    ) -> None:
        """One captured frame; ``frame_index`` is the codec's frame counter, so frames the
        codec lost become an RTP timestamp gap (timestamps count samples captured)."""
        if self.rtp.closed:
            return
        if self._inband.busy:
            frame, silent = self._inband.next_frame(FRAME_SAMPLES), False
        self.frames_sent += 1
        self.rtp.send_frame(frame, frame_index, silent=silent)

    def pull_frame(self) -> Frame:
        if self.rtp.closed:
            return self._silence
        self.frames_pulled += 1
        return self.rtp.pull_frame()

    def playout_frame(self) -> Frame:
        return self.pull_frame()

    def phase_advance(self) -> float:
        """Seconds to move the port's frame grid earlier now (``ata.media.phase``)."""
        return self.rtp.phase_advance()

    def phase_advanced(self, seconds: float) -> None:
        self.rtp.phase_advanced(seconds)

    # -- DTMF -------------------------------------------------------------------------------

    def send_dtmf(self, key: str, duration_ms: int = 100) -> str:
        """Send one key per the DTMF mode; returns how it went out (``rfc4733``/``inband``),
        or ``info`` when the SIP layer must send it."""
        if self.dtmf_mode == "info":
            return "info"
        if self.dtmf_mode == "rfc4733" and self.rtp.media.config.telephone_event_pt is not None:
            self.rtp.send_dtmf(key, duration_ms)
            return "rfc4733"
        self._inband.queue(key, on_ms=float(duration_ms), off_ms=100.0)
        return "inband"

    def send_flash(self) -> bool:
        """Hook flash as RFC 4733 event 16; False when events were not negotiated."""
        if self.rtp.closed or self.rtp.media.config.telephone_event_pt is None:
            return False
        self.rtp.send_dtmf(16, 250)
        return True

    def _on_media_event(self, event: MediaEvent) -> None:
        if isinstance(event, DtmfStarted) and self.on_dtmf is not None:
            key = event.digit
            if key and key in "0123456789*#ABCD":
                self.on_dtmf(key)

    # -- end --------------------------------------------------------------------------------

    def summary(self) -> str:
        """X-RTP-Stat style statistics (the final ones once closed)."""
        return self._summary or self.rtp.summary()

    async def close(self, reason: str = "") -> str:
        if not self.rtp.closed:
            self._summary = await self.rtp.close(reason)
        return self.summary()
