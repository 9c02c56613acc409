"""The DSP a port uses, assembled from :mod:`ata.dsp` for one country and caller ID method.

:class:`CountryDsp` implements :class:`ata.runtime.port_driver.PortDsp`: call-progress tones from
the country's tone table, DTMF tones for digits the far end sends, the on-hook caller ID burst
(Bell 202 / V.23 FSK MDMF, or DTMF CLIP), a DTMF receiver per port and a line echo canceller.
It also tells the line layer how long the caller ID burst lasts, so the ringer can fit it
between the rings (:meth:`CountryDsp.caller_id_burst_s`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import Enum

import numpy as np

from ata.dsp.callerid import CallerIdMessage, MessageType, message_for_call
from ata.dsp.callerid_dtmf import DtmfFraming, dtmf_clip_for_call, render_dtmf_clip
from ata.dsp.callerid_fsk import FskStandard, render_message
from ata.dsp.dtmf import DigitStart, DtmfGenerator, DtmfReceiver
from ata.dsp.echo import EchoCanceller
from ata.dsp.levels import SAMPLE_RATE, Samples
from ata.dsp.tone_tables import tone_plan
from ata.dsp.tones import ToneGenerator
from ata.line.port import Tone
from ata.runtime.port_driver import FrameSource


class CallerIdMethod(Enum):
    NONE = "none"
    BELL202 = "bell202"
    V23 = "v23"
    DTMF = "dtmf"


_TONE_KIND = {
    Tone.DIAL: "dial",
    Tone.SECOND_DIAL: "dial",
    Tone.STUTTER: "stutter",
    Tone.RINGBACK: "ringback",
    Tone.BUSY: "busy",
    Tone.REORDER: "congestion",
    Tone.HOWLER: "howler",
    Tone.CALL_WAITING: "callwaiting",
}


class _Frames:
    """A finite sample buffer served as 20 ms frames (silence after the end)."""

    def __init__(self, samples: Samples) -> None:
        self._samples = samples
        self._pos = 0

    def next_frame(self) -> Samples:
        chunk = self._samples[self._pos : self._pos + 160]
        self._pos += 160
        if len(chunk) < 160:
            chunk = np.concatenate([chunk, np.zeros(160 - len(chunk), np.int16)])
        return chunk


class PortDtmfReceiver:
    """Adapts :class:`ata.dsp.dtmf.DtmfReceiver` to the port driver: keys at digit start."""

    def __init__(self) -> None:
        self._receiver = DtmfReceiver()

    def process(self, frame: Samples) -> list[str]:
        return [e.digit for e in self._receiver.process(frame) if isinstance(e, DigitStart)]

    @property
    def active(self) -> bool:
        return self._receiver.active_digit is not None


@dataclass
class CountryDsp:
    country: str = "us"
    cid_method: CallerIdMethod = CallerIdMethod.BELL202
    dtmf_framing: DtmfFraming = DtmfFraming.A_C
    echo_tail_ms: float = 20.0
    echo_cancel: bool = True

    def __post_init__(self) -> None:
        for kind in set(_TONE_KIND.values()):
            tone_plan(self.country, kind)  # fail early on an unknown country or bad table

    def tone(self, tone: Tone) -> FrameSource:
        return ToneGenerator(tone_plan(self.country, _TONE_KIND[tone]))

    def dtmf_tone(self, key: str, seconds: float) -> FrameSource:
        generator = DtmfGenerator(on_ms=seconds * 1000.0, off_ms=0.0)
        return _Frames(generator.render(key))

    def caller_id(self, number: str, name: str, withheld: str, at: float) -> Samples:
        return self.caller_id_audio(number, name, withheld, dt.datetime.fromtimestamp(at))

    def caller_id_audio(self, number: str, name: str, withheld: str, when: dt.datetime) -> Samples:
        """The on-hook caller ID signal for what signalling gave (never raises on odd input)."""
        if self.cid_method is CallerIdMethod.NONE:
            return np.zeros(0, np.int16)
        if self.cid_method is CallerIdMethod.DTMF:
            digits = dtmf_clip_for_call(number, withheld, self.dtmf_framing)
            return render_dtmf_clip(digits) if digits else np.zeros(0, np.int16)
        message = message_for_call(number, name, withheld, when)
        standard = FskStandard.V23 if self.cid_method is CallerIdMethod.V23 else FskStandard.BELL202
        return render_message(message, standard)

    def vmwi(self, waiting: bool) -> Samples:
        """The on-hook visual message-waiting signal (MDMF type 0x82; none for DTMF CLIP)."""
        if self.cid_method in (CallerIdMethod.NONE, CallerIdMethod.DTMF):
            return np.zeros(0, np.int16)
        message = CallerIdMessage(type=MessageType.MDMF_VMWI, vmwi=waiting)
        standard = FskStandard.V23 if self.cid_method is CallerIdMethod.V23 else FskStandard.BELL202
        return render_message(message, standard)

    def caller_id_burst_s(self) -> float:
        """Length of the longest burst this method sends (for the ring schedule)."""
        if self.cid_method is CallerIdMethod.NONE:
            return 0.0
        longest = self.caller_id_audio("0" * 15, "N" * 15, "", dt.datetime(2026, 12, 31, 23, 59))
        return len(longest) / SAMPLE_RATE

    def dtmf_receiver(self) -> PortDtmfReceiver:
        return PortDtmfReceiver()

    def echo_canceller(self) -> EchoCanceller | None:
        return EchoCanceller(tail_ms=self.echo_tail_ms) if self.echo_cancel else None
