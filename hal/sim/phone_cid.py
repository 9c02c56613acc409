"""The virtual phone's caller ID receiver: FSK demodulation, message parsing, DTMF CLIP.

Theory of operation
-------------------
Independent of ``ata.dsp`` on purpose (see :mod:`hal.sim.phone_dsp`).

:class:`FskReceiver` demodulates 1200 bit/s FSK (Bell 202: mark 1200 / space 2200 Hz; V.23:
mark 1300 / space 2100 Hz). Per sample it correlates the last bit-length of audio (7 samples)
with the mark and the space frequency (a complex correlator: convolution with e^{jωk}) and
decides "mark" when the mark magnitude is at least the space magnitude, or when both are below
the carrier threshold (silence reads as idle mark). An asynchronous receiver then frames the
decisions like a UART: a mark→space edge is a start bit, confirmed half a bit later; the eight
data bits (LSB first) are sampled at the centre of each bit, and the stop bit must be mark
(otherwise a framing error is counted and the search resumes after the edge). The decision
stream is kept as a numpy array, so the per-sample work is vectorised; only the per-character
work runs in Python.

:class:`CidFramer` turns characters into messages. Characters more than ``gap_s`` apart start a
new burst (GR-30 allows at most 16.7 ms between characters). Every character that could start a
message (0x04 SDMF, 0x06 SDMF VMWI, 0x80 MDMF call setup, 0x82 MDMF message waiting) is tried:
type, length, payload, checksum (two's complement of the mod-256 sum). The channel seizure
(0x55 0x55 ...) never starts one. :func:`parse_message` decodes the payload into a
:class:`CallerId`.

:class:`DtmfClipDecoder` collects on-hook DTMF digits in the C- or #-terminated framings
(number, redirecting number, reason for absence) and produces a :class:`CallerId` when the end
symbol arrives.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Final

import numpy as np
import numpy.typing as npt

from hal.sim.phone_dsp import SAMPLE_RATE, amplitude

BAUD: Final = 1200
SAMPLES_PER_BIT: Final = SAMPLE_RATE / BAUD  # 6.67
BELL202: Final = (1200.0, 2200.0)  # (mark, space)
V23: Final = (1300.0, 2100.0)
MESSAGE_TYPES: Final = frozenset({0x04, 0x06, 0x80, 0x82})

# Sample offsets from the start edge: start-bit centre, eight data-bit centres, stop-bit centre.
_MID_START: Final = round(0.5 * SAMPLES_PER_BIT)
_DATA: Final = tuple(round((1.5 + i) * SAMPLES_PER_BIT) for i in range(8))
_STOP: Final = round(9.5 * SAMPLES_PER_BIT)
_WINDOW: Final = 7


class CidParseError(ValueError):
    """A caller ID message that does not parse (bad checksum, length or parameter)."""


@dataclass(frozen=True)
class CallerId:
    """A decoded caller ID (on-hook type 1, off-hook type 2, or DTMF CLIP)."""

    method: str  # "bell202" | "v23" | "dtmf"
    at: float  # when the message was complete
    message_type: int | None = None  # 0x80, 0x04, 0x82, 0x06; None for DTMF CLIP
    number: str | None = None
    name: str | None = None
    datetime: str | None = None  # "MMDDHHMM"
    number_absent: str | None = None  # "O" unavailable, "P" private
    name_absent: str | None = None
    redirecting: str | None = None
    vmwi: bool | None = None  # message waiting on/off (0x82 / 0x06)
    off_hook: bool = False  # received off-hook after a CAS acknowledgement (type 2)
    params: tuple[tuple[int, bytes], ...] = field(default=())
    raw: bytes = b""


def checksum_ok(message: bytes) -> bool:
    return sum(message) % 256 == 0


def parse_message(raw: bytes, *, method: str, at: float, off_hook: bool = False) -> CallerId:
    """Parse type, length, payload, checksum into a :class:`CallerId` (CidParseError if bad)."""
    if len(raw) < 3:
        raise CidParseError("message shorter than type, length and checksum")
    mtype, length = raw[0], raw[1]
    if len(raw) != length + 3:
        raise CidParseError(f"length byte {length} does not match {len(raw) - 3} payload bytes")
    if not checksum_ok(raw):
        raise CidParseError("checksum mismatch")
    payload = raw[2:-1]
    base = CallerId(method=method, at=at, message_type=mtype, raw=bytes(raw), off_hook=off_hook)
    if mtype == 0x04:
        if len(payload) < 8:
            raise CidParseError("SDMF payload shorter than its date/time")
        date, rest = payload[:8].decode("latin-1"), payload[8:].decode("latin-1")
        if rest in ("O", "P"):
            return replace(base, datetime=date, number_absent=rest)
        return replace(base, datetime=date, number=rest)
    if mtype == 0x06:
        if len(payload) != 3:
            raise CidParseError("SDMF message-waiting payload is not 3 bytes")
        state = {b"BBB": True, b"ooo": False}.get(bytes(payload))
        if state is None:
            raise CidParseError(f"unknown SDMF message-waiting code {payload!r}")
        return replace(base, vmwi=state)
    if mtype in (0x80, 0x82):
        params = _parameters(payload)
        values = dict(params)

        def text(code: int) -> str | None:
            v = values.get(code)
            return None if v is None else v.decode("latin-1")

        vmwi = None
        if values.get(0x0B):
            vmwi = values[0x0B][0] != 0
        return replace(
            base,
            datetime=text(0x01),
            number=text(0x02),
            redirecting=text(0x03) if mtype == 0x80 else None,
            number_absent=text(0x04),
            name=text(0x07),
            name_absent=text(0x08),
            vmwi=vmwi,
            params=params,
        )
    raise CidParseError(f"unknown message type 0x{mtype:02x}")


def _parameters(payload: bytes) -> tuple[tuple[int, bytes], ...]:
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(payload):
        if pos + 2 > len(payload):
            raise CidParseError("truncated MDMF parameter header")
        code, size = payload[pos], payload[pos + 1]
        if pos + 2 + size > len(payload):
            raise CidParseError(f"MDMF parameter 0x{code:02x} overruns the message")
        out.append((code, bytes(payload[pos + 2 : pos + 2 + size])))
        pos += 2 + size
    return tuple(out)


@dataclass(frozen=True)
class FskChar:
    value: int
    at: float  # time of the stop-bit centre


class FskReceiver:
    """Streaming 1200 bit/s FSK demodulator + asynchronous character framer."""

    def __init__(
        self, mark_hz: float, space_hz: float, *, min_level_dbm0: float = -45.0, name: str = ""
    ) -> None:
        self.name = name
        n = np.arange(_WINDOW, dtype=np.float64)
        self._k_mark = np.exp(2j * np.pi * mark_hz * n / SAMPLE_RATE)
        self._k_space = np.exp(2j * np.pi * space_hz * n / SAMPLE_RATE)
        # A tone of peak A at the correlator's own frequency gives |y| ≈ A·W/2.
        self._carrier = (amplitude(min_level_dbm0) * _WINDOW / 2.0) ** 2
        self.framing_errors = 0
        self.reset()

    def reset(self) -> None:
        self._history = np.zeros(_WINDOW - 1, dtype=np.float64)
        self._marks = np.zeros(0, dtype=bool)  # decisions; index 0 is absolute sample _base
        self._base = 0
        self._pos = 0  # absolute index where the next start-bit search begins
        self._total = 0  # samples fed since reset
        self._t_end = 0.0  # time of the last sample fed
        self._quiet = True  # silent history, all marks: more silence cannot start a character

    @property
    def quiet(self) -> bool:
        """Idle: the recent audio is silent and no character is being framed."""
        return self._quiet

    def skip_silence(self, count: int, end_at: float) -> bool:
        """Account for ``count`` zero samples ending at ``end_at`` without demodulating them,
        if :attr:`quiet` (False, nothing changed, otherwise: then feed them).

        Silence after silence decides "mark" (idle) everywhere, so no start bit can appear;
        this keeps exactly the bookkeeping :meth:`feed` would.
        """
        if not self._quiet:
            return False
        size = self._marks.size + count
        keep = min(size, 2)  # _frame() leaves the search one sample before the end
        self._base += size - keep
        self._pos = self._base + keep - 1
        if keep != self._marks.size:
            self._marks = np.ones(keep, dtype=bool)
        self._total += count
        self._t_end = end_at
        return True

    def feed(self, samples: npt.ArrayLike, end_at: float) -> list[FskChar]:
        raw = np.asarray(samples)
        if self._quiet and not raw.any() and self.skip_silence(raw.size, end_at):
            return []
        x = raw.astype(np.float64)
        ext = np.concatenate([self._history, x])
        self._history = ext[-(_WINDOW - 1) :]
        pm = np.abs(np.convolve(ext, self._k_mark, "valid")) ** 2
        ps = np.abs(np.convolve(ext, self._k_space, "valid")) ** 2
        mark = (pm >= ps) | ((pm + ps) < self._carrier)
        self._marks = np.concatenate([self._marks, mark])
        self._total += x.size
        self._t_end = end_at
        chars = self._frame()
        drop = max(0, self._pos - self._base - 1)
        if drop:
            self._marks = self._marks[drop:]
            self._base += drop
        self._quiet = bool(self._marks.all()) and not self._history.any()
        return chars

    def _time_of(self, index: int) -> float:
        return self._t_end - (self._total - 1 - index) / SAMPLE_RATE

    def _frame(self) -> list[FskChar]:
        out: list[FskChar] = []
        marks = self._marks
        end = self._base + marks.size
        while True:
            rel = self._pos - self._base
            if rel < 1:
                rel = 1
            # A start bit begins where a mark sample is followed by a space sample.
            edges = np.flatnonzero(marks[rel - 1 : -1] & ~marks[rel:])
            if edges.size == 0:
                self._pos = end - 1
                return out
            edge = self._base + rel + int(edges[0])
            if edge + _STOP >= end:
                self._pos = edge  # wait for the rest of the character
                return out
            e = edge - self._base
            if marks[e + _MID_START]:
                self._pos = edge + 1  # a glitch, not a start bit
                continue
            if not marks[e + _STOP]:
                self.framing_errors += 1
                self._pos = edge + 1
                continue
            value = 0
            for bit, offset in enumerate(_DATA):
                if marks[e + offset]:
                    value |= 1 << bit
            out.append(FskChar(value, self._time_of(edge + _STOP)))
            self._pos = edge + _STOP


class CidFramer:
    """Finds checksummed caller ID messages in a stream of FSK characters."""

    def __init__(self, *, gap_s: float = 0.05, max_bytes: int = 600) -> None:
        self._gap = gap_s
        self._max = max_bytes
        self._buf: list[int] = []
        self._last_at = -1e9

    def reset(self) -> None:
        self._buf.clear()

    def push(self, char: FskChar) -> bytes | None:
        """Add a character; return a complete, checksum-valid message when one ends here."""
        if char.at - self._last_at > self._gap:
            self._buf.clear()
        self._last_at = char.at
        self._buf.append(char.value)
        if len(self._buf) > self._max:
            del self._buf[: len(self._buf) - self._max]
        buf = self._buf
        n = len(buf)
        for start in range(n - 2):
            if buf[start] not in MESSAGE_TYPES:
                continue
            last = start + 2 + buf[start + 1]
            if last == n - 1 and sum(buf[start:]) % 256 == 0:
                message = bytes(buf[start:])
                self._buf.clear()
                return message
        return None


class DtmfClipDecoder:
    """DTMF CLIP digit strings (the framings in use, after spandsp's and ETSI's descriptions).

    - C-terminated: ``A<number>[D<redirecting>]C``, ``B<reason>C`` ("00" unavailable, "10"
      private), and Taiwan's ``D<number>C`` (a D field without an A field is the number);
    - #-terminated: ``A<number>#``, ``D<reason>#`` (1 private, 2 international, 3 unavailable),
      or a bare ``<number>#``.
    """

    C_REASONS: Final = {"00": "O", "10": "P"}
    HASH_REASONS: Final = {"1": "P", "2": "O", "3": "O"}

    def __init__(self, *, digit_timeout_s: float = 1.0) -> None:
        self._timeout = digit_timeout_s
        self._fields: dict[str, str] = {}
        self._open = ""
        self._last_at = -1e9

    def reset(self) -> None:
        self._fields.clear()
        self._open = ""

    def push(self, digit: str, at: float) -> CallerId | None:
        if at - self._last_at > self._timeout:
            self.reset()
        self._last_at = at
        if digit in "ABD":
            self._open = digit
            self._fields.setdefault(digit, "")
            return None
        if digit.isdigit() or digit == "*":
            self._fields[self._open] = self._fields.get(self._open, "") + digit
            return None
        if digit not in "C#" or not any(self._fields.values()):
            self.reset()
            return None
        fields = dict(self._fields)
        self.reset()
        raw = "".join(f"{k}{v}" for k, v in fields.items()) + digit
        number, absent, redirecting = fields.get("A") or fields.get(""), None, None
        if digit == "C":
            absent = self.C_REASONS.get(fields.get("B", ""))
            if number is None:
                number = fields.get("D")
            else:
                redirecting = fields.get("D")
        else:
            absent = self.HASH_REASONS.get(fields.get("D", ""))
        return CallerId(
            method="dtmf",
            at=at,
            number=number or None,
            number_absent=absent,
            redirecting=redirecting or None,
            raw=raw.encode("ascii"),
        )
