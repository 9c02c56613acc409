"""When caller ID goes on the line: on-hook schedules per method, and the type 2 sequencer.

Theory of operation
-------------------
*On-hook (type 1).* :func:`build_schedule` turns a method and a message into a
:class:`CallerIdSchedule`: timed steps relative to the moment the ringer says "send caller ID"
(``SetPolarity``, ``RingPulse``, ``Audio``), the whole audio timeline, and the figures the line
layer's :class:`ata.line.ringer.Ringer` needs (:meth:`CallerIdSchedule.ringer_params`). Windows
(line-signalling facts; GR-30-CORE, EN 300 659-1, BT SIN 227):

=====================  ==========================================================================
method                 sequence
=====================  ==========================================================================
``bell202``            after ring 1: FSK ≥ 500 ms after it ends, done ≥ 200 ms before ring 2
``etsi_ring``          after ring 1: V.23 FSK 500–2000 ms after it ends, ring 2 ≥ 200 ms after
``etsi_pr``            polarity reversal, 250 ms, V.23 FSK, ring 1 200–500 ms later
``etsi_dtas``          polarity reversal, 100 ms, DT-AS 100 ms, 45–500 ms, FSK, ring 200–500 ms
``etsi_rpas``          ring pulse 250 ms, 500–2000 ms, FSK, ring 1 200–500 ms later
``uk``                 (SIN 227) polarity reversal, 100 ms, DT-AS, 100 ms, FSK, ring 200–500 ms
``dtmf``               polarity reversal, 250 ms, DTMF CLIP, ring 1 200–500 ms later
=====================  ==========================================================================

:class:`OnHookSender` plays a schedule sans-IO: ``start(now)``, ``get_timer()``,
``handle_timer(now)`` → control commands due, ``next_frame()`` → the next 160 samples of audio.

*Off-hook (type 2, call waiting; SR-TSV-002476 / GR-575).* :class:`CallWaitingSender` is a
table-driven state machine: mute the far end, play SAS (440 Hz, 300 ms) and the CAS
(2130 + 2750 Hz, 80 ms), wait up to ``ack_timeout_s`` for the phone's DTMF ACK ('D', or 'A' from
an ADSI set; the line layer's DTMF receiver reports it via :meth:`CallWaitingSender.dtmf`),
then after ``fsk_delay_s`` send the FSK burst with no seizure and 80 mark bits, and unmute. No
ACK: no FSK, unmute, result ``no_ack``. Windows (GR-30/SR-TSV-002476 as quoted by handset service
manuals): SAS 440 Hz ~300 ms; CAS 80 ± 5 ms; the ACK (DTMF D or A, 60 ± 5 ms) starts 0–100 ms
after the CAS ends (``ack_timeout_s`` = 160 ms covers that plus the DTMF receiver's ~40 ms
decision and a frame); the FSK starts 0–500 ms after the ACK (``fsk_delay_s`` = 100 ms after the
ACK is recognised).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Final

import numpy as np

from ata.dsp.callerid import CallerIdMessage
from ata.dsp.callerid_dtmf import DtmfFraming, encode_dtmf_clip, render_dtmf_clip
from ata.dsp.callerid_fsk import FskStandard, alert_tone, render_message
from ata.dsp.levels import FRAME_SAMPLES, SAMPLE_RATE, Samples, dbm0_to_amplitude, to_int16


class CallerIdMethod(Enum):
    BELL202 = "bell202"
    ETSI_RING = "etsi_ring"
    ETSI_PR = "etsi_pr"
    ETSI_DTAS = "etsi_dtas"
    ETSI_RPAS = "etsi_rpas"
    UK = "uk"
    DTMF = "dtmf"


@dataclass(frozen=True)
class SetPolarity:
    reverse: bool


@dataclass(frozen=True)
class RingPulse:
    duration_s: float


@dataclass(frozen=True)
class Audio:
    samples: Samples = field(repr=False)

    @property
    def duration_s(self) -> float:
        return self.samples.size / SAMPLE_RATE


Action = SetPolarity | RingPulse | Audio


@dataclass(frozen=True)
class Step:
    at_s: float  # relative to the schedule start
    action: Action


@dataclass(frozen=True)
class CallerIdSchedule:
    method: CallerIdMethod
    before_ring: bool
    steps: tuple[Step, ...]
    burst_s: float  # from start to the end of the last step
    guard_s: float  # silence between the end of the burst and the next ring
    delay_after_ring_s: float  # after-ring methods: start this long after ring 1 ends

    @property
    def first_ring_s(self) -> float:
        """Before-ring methods: when ring 1 may start, relative to the schedule start."""
        return self.burst_s + self.guard_s

    def ringer_params(self) -> dict[str, object]:
        """Keyword values for :class:`ata.line.ringer.Ringer` (``timing`` as its enum value)."""
        return {
            "timing": "before_ring" if self.before_ring else "after_first_ring",
            "cid_burst_s": self.burst_s,
            "cid_delay_s": self.delay_after_ring_s,
            "cid_guard_s": self.guard_s,
            "cid_lead_s": self.first_ring_s,
        }

    def audio(self) -> Samples:
        """The audio timeline from the start to the end of the burst (silence between steps)."""
        total = round(self.burst_s * SAMPLE_RATE)
        out = np.zeros(total, dtype=np.int16)
        for step in self.steps:
            if isinstance(step.action, Audio):
                i = round(step.at_s * SAMPLE_RATE)
                s = step.action.samples[: max(0, total - i)]
                out[i : i + s.size] = s
        return out


_FSK_METHODS: Final = {
    CallerIdMethod.BELL202: FskStandard.BELL202,
    CallerIdMethod.ETSI_RING: FskStandard.V23,
    CallerIdMethod.ETSI_PR: FskStandard.V23,
    CallerIdMethod.ETSI_DTAS: FskStandard.V23,
    CallerIdMethod.ETSI_RPAS: FskStandard.V23,
    CallerIdMethod.UK: FskStandard.V23,
}


def build_schedule(
    method: CallerIdMethod,
    msg: CallerIdMessage,
    *,
    level_dbm0: float = -13.5,
    dtmf_framing: DtmfFraming = DtmfFraming.A_C,
) -> CallerIdSchedule:
    """The on-hook caller ID schedule for ``msg`` sent with ``method``."""
    if method is CallerIdMethod.DTMF:
        digits = encode_dtmf_clip(msg.number, dtmf_framing, absent=msg.number_absent)
        payload = render_dtmf_clip(digits)
    else:
        payload = render_message(msg, _FSK_METHODS[method], level_dbm0=level_dbm0)
    pay = Audio(payload)
    steps: list[Step]
    if method in (CallerIdMethod.BELL202, CallerIdMethod.ETSI_RING):
        delay = 0.5 if method is CallerIdMethod.BELL202 else 0.6
        return CallerIdSchedule(method, False, (Step(0.0, pay),), pay.duration_s, 0.2, delay)
    if method in (CallerIdMethod.ETSI_PR, CallerIdMethod.DTMF):
        steps = [Step(0.0, SetPolarity(True)), Step(0.25, pay)]
        start = 0.25
    elif method is CallerIdMethod.ETSI_RPAS:
        steps = [Step(0.0, RingPulse(0.25)), Step(0.75, pay)]
        start = 0.75
    else:  # ETSI_DTAS, UK
        dtas = Audio(alert_tone(0.1, level_dbm0=level_dbm0 - 3.0))
        steps = [Step(0.0, SetPolarity(True)), Step(0.1, dtas), Step(0.3, pay)]
        start = 0.3
    end = start + pay.duration_s
    if any(isinstance(s.action, SetPolarity) for s in steps):
        steps.append(Step(end, SetPolarity(False)))
    return CallerIdSchedule(method, True, tuple(steps), end, 0.3, 0.0)


class OnHookSender:
    """Plays a schedule: timed control commands plus a 160-sample audio frame stream."""

    def __init__(self, schedule: CallerIdSchedule) -> None:
        self.schedule = schedule
        self._audio = schedule.audio()
        self._pos = 0
        self._t0: float | None = None
        self._pending = [s for s in schedule.steps if not isinstance(s.action, Audio)]

    def start(self, now: float) -> list[Action]:
        self._t0 = now
        return self.handle_timer(now)

    def get_timer(self) -> float | None:
        if self._t0 is None or not self._pending:
            return None
        return self._t0 + self._pending[0].at_s

    def handle_timer(self, now: float) -> list[Action]:
        if self._t0 is None:
            return []
        due = [s for s in self._pending if self._t0 + s.at_s <= now + 1e-9]
        self._pending = [s for s in self._pending if s not in due]
        return [s.action for s in due]

    @property
    def done(self) -> bool:
        return self._pos >= self._audio.size and not self._pending

    def next_frame(self) -> Samples:
        """The next 20 ms of caller ID audio (zeros after the end)."""
        out = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        chunk = self._audio[self._pos : self._pos + FRAME_SAMPLES]
        out[: chunk.size] = chunk
        self._pos += FRAME_SAMPLES
        return out


# -- type 2 (call waiting) ----------------------------------------------------------------------


class CwState(Enum):
    IDLE = "idle"
    SAS = "sas"
    CAS = "cas"
    WAIT_ACK = "wait_ack"
    DELAY = "delay"
    FSK = "fsk"
    DONE = "done"


class CwInput(Enum):
    START = "start"
    TIMER = "timer"
    ACK = "ack"


class CwAct(Enum):
    MUTE_PLAY_SAS = "mute_play_sas"
    PLAY_CAS = "play_cas"
    ARM_ACK = "arm_ack"
    ARM_DELAY = "arm_delay"
    PLAY_FSK = "play_fsk"
    FINISH_OK = "finish_ok"
    FINISH_NO_ACK = "finish_no_ack"


# (state, input) -> (next state, action); anything missing is ignored.
_CW_TABLE: Final[dict[tuple[CwState, CwInput], tuple[CwState, CwAct]]] = {
    (CwState.IDLE, CwInput.START): (CwState.SAS, CwAct.MUTE_PLAY_SAS),
    (CwState.SAS, CwInput.TIMER): (CwState.CAS, CwAct.PLAY_CAS),
    (CwState.CAS, CwInput.TIMER): (CwState.WAIT_ACK, CwAct.ARM_ACK),
    (CwState.CAS, CwInput.ACK): (CwState.DELAY, CwAct.ARM_DELAY),  # early ACK (fast CPE)
    (CwState.WAIT_ACK, CwInput.ACK): (CwState.DELAY, CwAct.ARM_DELAY),
    (CwState.WAIT_ACK, CwInput.TIMER): (CwState.DONE, CwAct.FINISH_NO_ACK),
    (CwState.DELAY, CwInput.TIMER): (CwState.FSK, CwAct.PLAY_FSK),
    (CwState.FSK, CwInput.TIMER): (CwState.DONE, CwAct.FINISH_OK),
}


@dataclass(frozen=True)
class MuteFarEnd:
    mute: bool


@dataclass(frozen=True)
class CallWaitingDone:
    delivered: bool
    reason: str  # "ok", "no_ack"
    ack: str | None = None  # 'D' or 'A'


CwCommand = MuteFarEnd | Audio | CallWaitingDone


class CallWaitingSender:
    """Type 2 caller ID: SAS, CAS, wait for the DTMF ACK, FSK with 80 mark bits."""

    SAS_S: Final = 0.3
    CAS_S: Final = 0.08

    def __init__(
        self,
        msg: CallerIdMessage,
        *,
        standard: FskStandard = FskStandard.BELL202,
        level_dbm0: float = -13.5,
        ack_timeout_s: float = 0.16,
        fsk_delay_s: float = 0.1,
        play_sas: bool = True,
    ) -> None:
        self.state = CwState.IDLE
        self.ack_timeout_s = ack_timeout_s
        self.fsk_delay_s = fsk_delay_s
        self._fsk = render_message(msg, standard, level_dbm0=level_dbm0, call_waiting=True)
        t = np.arange(round(self.SAS_S * SAMPLE_RATE)) / SAMPLE_RATE
        sas = dbm0_to_amplitude(-13.0) * np.sin(2 * np.pi * 440.0 * t)
        self._sas = to_int16(sas) if play_sas else np.zeros(0, dtype=np.int16)
        self._cas = alert_tone(self.CAS_S, level_dbm0=-15.0)  # 80 ± 5 ms, −15 dBm per tone
        self._timer: float | None = None
        self._ack: str | None = None
        self.result: CallWaitingDone | None = None
        self._audio = np.zeros(0, dtype=np.int16)
        self._pos = 0

    def get_timer(self) -> float | None:
        return self._timer

    def start(self, now: float) -> list[CwCommand]:
        return self._feed(CwInput.START, now)

    def handle_timer(self, now: float) -> list[CwCommand]:
        if self._timer is None or now + 1e-9 < self._timer:
            return []
        return self._feed(CwInput.TIMER, now)

    def dtmf(self, digit: str, now: float) -> list[CwCommand]:
        """A digit from the line's DTMF receiver (only 'D' and 'A' count as the ACK)."""
        if digit.upper() not in ("D", "A"):
            return []
        if (self.state, CwInput.ACK) in _CW_TABLE:
            self._ack = digit.upper()
        return self._feed(CwInput.ACK, now)

    def next_frame(self) -> Samples:
        out = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        chunk = self._audio[self._pos : self._pos + FRAME_SAMPLES]
        out[: chunk.size] = chunk
        self._pos += FRAME_SAMPLES
        return out

    def _play(self, samples: Samples) -> Audio:
        self._audio, self._pos = samples, 0
        return Audio(samples)

    def _feed(self, event: CwInput, now: float) -> list[CwCommand]:
        entry = _CW_TABLE.get((self.state, event))
        if entry is None:
            return []
        self.state, act = entry
        self._timer = None
        out: list[CwCommand] = []
        if act is CwAct.MUTE_PLAY_SAS:
            out += [MuteFarEnd(True), self._play(self._sas)]
            self._timer = now + self._sas.size / SAMPLE_RATE
        elif act is CwAct.PLAY_CAS:
            out.append(self._play(self._cas))
            self._timer = now + self.CAS_S
        elif act is CwAct.ARM_ACK:
            self._timer = now + self.ack_timeout_s
        elif act is CwAct.ARM_DELAY:
            self._timer = now + self.fsk_delay_s
        elif act is CwAct.PLAY_FSK:
            out.append(self._play(self._fsk))
            self._timer = now + self._fsk.size / SAMPLE_RATE
        elif act is CwAct.FINISH_OK:
            self.result = CallWaitingDone(True, "ok", self._ack)
            out += [MuteFarEnd(False), self.result]
        else:  # FINISH_NO_ACK
            self.result = CallWaitingDone(False, "no_ack")
            out += [MuteFarEnd(False), self.result]
        return out
