"""FSK caller ID on the line: burst rendering (Bell 202 / V.23) and a streaming receiver.

Theory of operation
-------------------
*Sending.* A burst is: channel seizure (``seizure_bits`` alternating bits starting with 0, 300
for on-hook, none for call waiting), the mark signal (``mark_bits`` 1s: 180 on-hook, 80 for call
waiting), the message bytes in UART framing (start, 8 data LSB first, stop), and a short mark
postamble so the receiver's filters flush the checksum. One :class:`FskModulator` renders it all,
so the phase is continuous from the first seizure bit to the last mark bit. Alerting tones
(DT-AS and the call-waiting CAS, 2130 + 2750 Hz) come from :func:`alert_tone`.

*Receiving.* :class:`FskCallerIdReceiver` runs an :class:`FskDemodulator` and a small message
assembler: a character preceded by at least ``min_mark_bits`` of mark starts a message; the
second is the length; after ``length`` more bytes and the checksum the message is parsed
(:func:`ata.dsp.callerid.parse_message`). Framing errors inside a message, bad checksums and
unknown message types are reported as :class:`ReceiveError` results and counted; the receiver
then waits for the next mark run. Input is any block size, so frames of 160 samples work.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final

import numpy as np
import numpy.typing as npt

from ata.dsp.callerid import (
    CallerIdError,
    CallerIdMessage,
    MessageType,
    encode_message,
    parse_message,
)
from ata.dsp.fsk import BELL202, V23, FskDemodulator, FskModulator, FskSpec, uart_bits
from ata.dsp.levels import SAMPLE_RATE, FloatSamples, Samples, dbm0_to_amplitude, to_int16


class FskStandard(Enum):
    BELL202 = "bell202"
    V23 = "v23"

    @property
    def spec(self) -> FskSpec:
        return BELL202 if self is FskStandard.BELL202 else V23


SEIZURE_BITS: Final = 300
MARK_BITS: Final = 180
CALL_WAITING_MARK_BITS: Final = 80
POSTAMBLE_BITS: Final = 8
DEFAULT_LEVEL_DBM0: Final = -13.5


def render_fsk(
    data: bytes,
    standard: FskStandard = FskStandard.BELL202,
    *,
    level_dbm0: float = DEFAULT_LEVEL_DBM0,
    seizure_bits: int = SEIZURE_BITS,
    mark_bits: int = MARK_BITS,
    postamble_bits: int = POSTAMBLE_BITS,
) -> FloatSamples:
    """The FSK burst for message bytes ``data`` as float samples (16-bit scale)."""
    bits = np.concatenate(
        [
            np.tile(np.array([0, 1], np.int8), (seizure_bits + 1) // 2)[:seizure_bits],
            np.ones(mark_bits, np.int8),
            uart_bits(data),
            np.ones(postamble_bits, np.int8),
        ]
    )
    return FskModulator(standard.spec, level_dbm0).modulate(bits)


def render_message(
    msg: CallerIdMessage,
    standard: FskStandard = FskStandard.BELL202,
    *,
    level_dbm0: float = DEFAULT_LEVEL_DBM0,
    call_waiting: bool = False,
) -> Samples:
    """The complete FSK signal for one message (on-hook form, or type 2 when ``call_waiting``)."""
    data = encode_message(msg)
    x = render_fsk(
        data,
        standard,
        level_dbm0=level_dbm0,
        seizure_bits=0 if call_waiting else SEIZURE_BITS,
        mark_bits=CALL_WAITING_MARK_BITS if call_waiting else MARK_BITS,
    )
    return to_int16(x)


def alert_tone(
    duration_s: float, *, level_dbm0: float = -15.0, freqs: tuple[float, float] = (2130.0, 2750.0)
) -> Samples:
    """DT-AS / CAS dual tone (each component at ``level_dbm0``), 2 ms raised-cosine edges."""
    n = round(duration_s * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    a = dbm0_to_amplitude(level_dbm0)
    x = a * (np.sin(2 * np.pi * freqs[0] * t) + np.sin(2 * np.pi * freqs[1] * t))
    ramp = min(16, n // 2)
    if ramp:
        w = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
        x[:ramp] *= w
        x[n - ramp :] *= w[::-1]
    return to_int16(x)


@dataclass(frozen=True)
class ReceiveError:
    """A message that started but could not be decoded."""

    reason: str
    data: bytes


ReceiveResult = CallerIdMessage | ReceiveError

_KNOWN_TYPES: Final = frozenset(int(t) for t in MessageType)


class FskCallerIdReceiver:
    """Streaming FSK caller ID decoder: ``push(samples)`` returns messages and errors."""

    def __init__(
        self, standard: FskStandard = FskStandard.BELL202, *, min_mark_bits: float = 10.0
    ) -> None:
        self.standard = standard
        self.min_mark_bits = min_mark_bits
        self._demod = FskDemodulator(standard.spec)
        self._buf = bytearray()
        self._active = False
        self.errors = 0
        self.messages = 0
        self.ignored = 0

    def push(self, samples: npt.ArrayLike) -> list[ReceiveResult]:
        out: list[ReceiveResult] = []
        for ch in self._demod.push(samples):
            if ch.idle_bits >= self.min_mark_bits and ch.framing_ok:
                if self._active and self._buf:
                    out.append(self._fail("message interrupted by a new mark run"))
                if ch.value in _KNOWN_TYPES:
                    self._active = True
                    self._buf = bytearray([ch.value])
                else:
                    self.ignored += 1  # noise after a mark run, or a type we do not know
                continue
            if not self._active:
                continue
            if not ch.framing_ok:
                out.append(self._fail("framing error"))
                continue
            self._buf.append(ch.value)
            if len(self._buf) >= 2 and len(self._buf) == self._buf[1] + 3:
                data = bytes(self._buf)
                self._active = False
                self._buf = bytearray()
                try:
                    out.append(parse_message(data))
                    self.messages += 1
                except CallerIdError as exc:
                    self.errors += 1
                    out.append(ReceiveError(str(exc), data))
        return out

    def _fail(self, reason: str) -> ReceiveError:
        data = bytes(self._buf)
        self._active = False
        self._buf = bytearray()
        self.errors += 1
        return ReceiveError(reason, data)


def decode_fsk(
    samples: npt.ArrayLike, standard: FskStandard = FskStandard.BELL202
) -> list[ReceiveResult]:
    """Decode every FSK caller ID message in a recording (frame by frame, like the line)."""
    x = np.asarray(samples)
    rx = FskCallerIdReceiver(standard)
    out: list[ReceiveResult] = []
    for i in range(0, x.size, 160):
        out += rx.push(x[i : i + 160])
    # Flush: a little silence so the last character's centre samples exist.
    out += rx.push(np.zeros(160))
    return out


def detect_fsk_standard(samples: npt.ArrayLike) -> FskStandard:
    """Bell 202 or V.23, from where the mark/space energy sits (their demodulators overlap)."""
    x = np.asarray(samples, dtype=np.float64)
    spec = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(x.size, 1.0 / SAMPLE_RATE)

    def band(f: float) -> float:
        return float(spec[(freqs > f - 40.0) & (freqs < f + 40.0)].sum())

    bell = band(BELL202.mark_hz) + band(BELL202.space_hz)
    v23 = band(V23.mark_hz) + band(V23.space_hz)
    return FskStandard.BELL202 if bell >= v23 else FskStandard.V23
