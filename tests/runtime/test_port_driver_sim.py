"""The port driver on the simulated board (real ProSLIC driver on the register model, virtual
phones with their own DSP, ata.dsp tones/DTMF/caller ID), on a virtual clock; the SIP side is a
recording stand-in here (the end-to-end tests use the real SIP stack)."""

from __future__ import annotations

import numpy as np

from ata.line.port import CallAnswered, CallEnded, IncomingCall, State
from ata.runtime.port_dsp import CallerIdMethod, CountryDsp
from hal.clock import VirtualClock
from tests.runtime.port_support import RecordingCalls, sim_port


async def make(clock: VirtualClock, *, cid: CallerIdMethod = CallerIdMethod.BELL202):
    calls = RecordingCalls()
    board, driver = await sim_port(clock, CountryDsp(country="us", cid_method=cid), calls)
    return board, driver, calls


def close_to(freqs: list[float], expected: list[float], tol: float = 3.0) -> bool:
    return len(freqs) >= len(expected) and all(
        any(abs(f - e) <= tol for f in freqs) for e in expected
    )


async def test_off_hook_dial_tone_then_dtmf_digits_place_a_call() -> None:
    clock = VirtualClock()
    board, driver, calls = await make(clock)
    phone = board.phones[0]
    phone.off_hook()
    await clock.advance(1.0)
    tones = [t.freq_hz for t in phone.dominant_tones(0.5)]
    assert close_to(tones, [350.0, 440.0]), tones  # US dial tone
    assert driver.machine.state is State.DIALING
    await clock.run(phone.dtmf_dial("1234"))
    await clock.advance(0.5)
    assert calls.actions == [("place", "port0-1", "1234")]
    assert driver.machine.state is State.CALLING
    assert phone.level_dbm0(0.2) < -50  # dial tone stopped at the first digit
    driver.call_event(CallAnswered("port0-1"))
    await clock.advance(0.2)
    await clock.run(phone.dtmf_dial("5"))
    await clock.advance(0.3)
    assert ("dtmf", "port0-1", "5") in calls.actions
    phone.on_hook()
    await clock.advance(1.5)
    assert calls.actions[-1] == ("hangup", "port0-1")
    assert driver.machine.state is State.IDLE
    await clock.run(board.close())


async def test_pulse_dialling_places_the_call() -> None:
    clock = VirtualClock()
    board, _driver, calls = await make(clock)
    phone = board.phones[0]
    phone.off_hook()
    await clock.advance(0.5)
    await clock.run(phone.pulse_dial("205", pps=10.0, break_ratio=0.6))
    await clock.advance(0.5)
    assert calls.actions == [("place", "port0-1", "205")]
    await clock.run(board.close())


async def test_incoming_call_rings_shows_caller_id_and_answers() -> None:
    clock = VirtualClock()
    board, driver, calls = await make(clock)
    phone = board.phones[0]
    driver.call_event(IncomingCall("c1", number="5551234", name="ALICE SMITH"))
    await clock.advance(7.0)
    assert phone.caller_ids, "the phone decoded caller ID from the line audio"
    cid = phone.caller_ids[0]
    assert (cid.method, cid.number, cid.name) == ("bell202", "5551234", "ALICE SMITH")
    first_ring = phone.rings[0]
    assert abs(first_ring.duration - 2.0) < 0.06
    assert cid.at > first_ring.end + 0.5  # sent between the first and second ring
    assert phone.ringing  # second ring
    phone.off_hook()
    await clock.advance(0.3)
    assert not phone.ringing
    assert calls.actions == [("answer", "c1")]
    assert driver.machine.state is State.CONNECTED
    driver.call_event(CallEnded("c1"))
    await clock.advance(1.0)
    tones = [t.freq_hz for t in phone.dominant_tones(0.5)]
    assert close_to(tones, [480.0, 620.0]), tones  # US reorder
    await clock.run(board.close())


async def test_caller_hangs_up_while_ringing() -> None:
    clock = VirtualClock()
    board, driver, _calls = await make(clock, cid=CallerIdMethod.NONE)
    phone = board.phones[0]
    driver.call_event(IncomingCall("c2", number="100"))
    await clock.advance(1.0)
    assert phone.ringing
    driver.call_event(CallEnded("c2", cause="cancel"))
    await clock.advance(10.0)
    assert not phone.ringing
    assert len(phone.rings) == 1
    assert driver.machine.state is State.IDLE
    assert np.isfinite(phone.level_dbm0(1.0)) is False or phone.level_dbm0(1.0) < -60
    await clock.run(board.close())


def test_caller_id_audio_never_raises_on_odd_signalling_input() -> None:
    import datetime as dt

    from ata.runtime.port_dsp import CallerIdMethod, CountryDsp

    when = dt.datetime(2026, 11, 24, 13, 30)
    for method in CallerIdMethod:
        dsp = CountryDsp(cid_method=method)
        for number, name, withheld in [
            ("+4930123456789012345678", "Ünïcødé <x>" * 5, ""),
            ("", "", "private"),
            ("abc", "", "unavailable"),
        ]:
            audio = dsp.caller_id_audio(number, name, withheld, when)
            assert audio.dtype.name == "int16"
            assert (len(audio) > 0) == (method is not CallerIdMethod.NONE)
