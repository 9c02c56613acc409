"""The per-port state machine, driven event by event on a fake clock."""

from __future__ import annotations

import pytest

from ata.line.dialplan import DialPlan
from ata.line.port import (
    AnswerCall,
    CallAnswered,
    CallEnded,
    CallFailed,
    CallProgress,
    ConnectMedia,
    Digit,
    DisconnectMedia,
    Flash,
    FlashMode,
    HangUp,
    IncomingCall,
    OffHook,
    OnHook,
    PlaceCall,
    PlayDtmf,
    PlayTone,
    PortMachine,
    PortSettings,
    PowerDenial,
    RejectCall,
    RelayDtmf,
    RelayFlash,
    RemoteDtmf,
    Ring,
    SetPolarity,
    State,
    StopTone,
    Tone,
    TransmitCallerId,
)
from ata.line.ringer import CallerIdTiming


def machine(**overrides: object) -> PortMachine:
    settings = PortSettings(dial_plan=DialPlan.parse("(1xxx|<:1>[2-9]xx|911S0)"), **overrides)  # type: ignore[arg-type]
    return PortMachine(port=1, settings=settings)


def run_timers(port: PortMachine, until: float) -> list[tuple[float, object]]:
    seen: list[tuple[float, object]] = []
    while (deadline := port.get_timer()) is not None and deadline <= until:
        seen.extend((deadline, c) for c in port.handle_timer(deadline))
    return seen


def dial(port: PortMachine, keys: str, start: float = 1.0) -> tuple[list[object], float]:
    out: list[object] = []
    now = start
    for key in keys:
        now += 0.3
        out += port.handle(Digit(key), now)
    return out, now


def test_outgoing_call_from_off_hook_to_hang_up() -> None:
    port = machine()
    assert port.handle(OffHook(), 0.0) == [PlayTone(Tone.DIAL)]
    out, now = dial(port, "1234")
    assert out[0] == StopTone()
    assert out[-1] == PlaceCall("port1-1", "1234")
    assert port.state is State.CALLING
    assert port.handle(CallProgress("port1-1"), now + 0.1) == [PlayTone(Tone.RINGBACK)]
    assert port.handle(CallAnswered("port1-1"), now + 2) == [StopTone(), ConnectMedia("port1-1")]
    assert port.state is State.CONNECTED
    assert port.handle(Digit("5"), now + 3) == [RelayDtmf("port1-1", "5")]
    assert port.handle(RemoteDtmf("port1-1", "9"), now + 4) == [PlayDtmf("9")]
    assert port.handle(OnHook(), now + 5) == [StopTone(), DisconnectMedia(), HangUp("port1-1")]
    assert port.state is State.IDLE


def test_substitution_reaches_the_call() -> None:
    port = machine()
    port.handle(OffHook(), 0.0)
    out, _ = dial(port, "234")
    assert out[-1] == PlaceCall("port1-1", "1234")


def test_busy_then_howler_then_lockout() -> None:
    port = machine(reorder_s=5.0, howler_s=10.0)
    port.handle(OffHook(), 0.0)
    _, now = dial(port, "911")
    assert port.state is State.CALLING
    out = port.handle(CallFailed("port1-1", 486), now + 1)
    assert out[-1] == PlayTone(Tone.BUSY)
    timeline = run_timers(port, now + 100)
    assert timeline == [(now + 6.0, PlayTone(Tone.HOWLER)), (now + 16.0, StopTone())]
    assert port.state is State.LOCKOUT
    port.handle(OnHook(), now + 200)
    assert port.state is State.IDLE


def test_unreachable_number_gets_reorder_not_busy() -> None:
    port = machine()
    port.handle(OffHook(), 0.0)
    _, now = dial(port, "1234")
    assert port.handle(CallFailed("port1-1", 404), now)[-1] == PlayTone(Tone.REORDER)


def test_invalid_number_reorder_immediately() -> None:
    port = machine()
    port.handle(OffHook(), 0.0)
    out, _ = dial(port, "0")
    assert out == [StopTone(), PlayTone(Tone.REORDER)]
    assert port.state is State.FAILED


def test_no_digits_times_out_to_reorder() -> None:
    port = machine()
    port.handle(OffHook(), 0.0)
    assert run_timers(port, 10.5) == [(10.0, PlayTone(Tone.REORDER))]


def test_far_end_hangup_gives_reorder_cpc_and_polarity_restore() -> None:
    port = machine(polarity_on_answer=True, cpc_on_far_hangup_s=0.6)
    port.handle(OffHook(), 0.0)
    _, now = dial(port, "1234")
    assert SetPolarity(True) in port.handle(CallAnswered("port1-1"), now)
    out = port.handle(CallEnded("port1-1"), now + 10)
    assert out == [DisconnectMedia(), SetPolarity(False), PowerDenial(0.6), PlayTone(Tone.REORDER)]
    assert port.state is State.DISCONNECTED


def test_incoming_call_rings_with_caller_id_after_first_ring_and_answers() -> None:
    port = machine(caller_id_burst_s=1.0, caller_id_timing=CallerIdTiming.AFTER_FIRST_RING)
    out = port.handle(IncomingCall("c1", number="5551234", name="ALICE"), 100.0)
    assert out == [Ring(True)]
    timeline = run_timers(port, 107.0)
    assert timeline[0] == (102.0, Ring(False))
    assert timeline[1] == (102.5, TransmitCallerId("5551234", "ALICE", "", 100.0))
    assert timeline[2] == (106.0, Ring(True))
    out = port.handle(OffHook(), 106.5)
    assert out == [Ring(False), AnswerCall("c1"), ConnectMedia("c1")]
    assert port.state is State.CONNECTED
    assert port.handle(CallEnded("c1"), 120.0)[-1] == PlayTone(Tone.REORDER)


def test_distinctive_cadence_used() -> None:
    port = machine()
    port.handle(IncomingCall("c2", cadence=((0.8, 0.4), (0.8, 4.0))), 0.0)
    timeline = run_timers(port, 6.1)
    assert [t for t, c in timeline if c == Ring(True)] == pytest.approx([0.8 + 0.4, 6.0])


def test_caller_hangs_up_before_answer_stops_ringing() -> None:
    port = machine()
    port.handle(IncomingCall("c3"), 0.0)
    assert port.handle(CallEnded("c3", cause="cancel"), 1.0) == [Ring(False)]
    assert port.state is State.IDLE
    assert run_timers(port, 100.0) == []


def test_no_answer_timeout_rejects_480() -> None:
    port = machine(no_answer_s=12.0)
    port.handle(IncomingCall("c4"), 0.0)
    timeline = run_timers(port, 13.0)
    assert (12.0, RejectCall("c4", 480)) in timeline
    assert port.state is State.IDLE


def test_second_incoming_call_gets_busy() -> None:
    port = machine()
    port.handle(OffHook(), 0.0)
    assert port.handle(IncomingCall("c5"), 1.0) == [RejectCall("c5", 486)]
    assert port.state is State.DIALING


def test_flash_ignored_or_relayed() -> None:
    for mode, expected in ((FlashMode.IGNORE, []), (FlashMode.RELAY, [RelayFlash("c6")])):
        port = machine(flash_mode=mode)
        port.handle(IncomingCall("c6"), 0.0)
        port.handle(OffHook(), 1.0)
        assert port.handle(Flash(), 2.0) == expected


def test_stutter_dial_tone_when_message_waiting() -> None:
    port = machine(message_waiting=True)
    assert port.handle(OffHook(), 0.0) == [PlayTone(Tone.STUTTER)]


def test_hotline_places_call_at_off_hook() -> None:
    port = PortMachine(port=2, settings=PortSettings(dial_plan=DialPlan.parse("(S0<:1000>)")))
    assert port.handle(OffHook(), 0.0) == [
        PlayTone(Tone.DIAL),
        StopTone(),
        PlaceCall("port2-1", "1000"),
    ]


def test_events_for_other_calls_are_ignored() -> None:
    port = machine()
    port.handle(OffHook(), 0.0)
    _, now = dial(port, "1234")
    assert port.handle(CallAnswered("someone-else"), now) == []
    assert port.state is State.CALLING
