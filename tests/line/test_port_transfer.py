"""The port state machine's transfer and message-waiting paths: blind transfer from the phone
(flash, dial, hang up), the far end transferring us (CallReplaced), MWI (stutter)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ata.line.dialplan import DialPlan
from ata.line.port import (
    AttendedTransfer,
    CallAnswered,
    CallEnded,
    CallFailed,
    CallProgress,
    CallReplaced,
    ConnectMedia,
    Digit,
    DisconnectMedia,
    Event,
    Flash,
    FlashMode,
    HangUp,
    HoldCall,
    IncomingCall,
    MessageWaiting,
    OffHook,
    OnHook,
    PlaceCall,
    PlayTone,
    PortMachine,
    PortSettings,
    RelayDtmf,
    ResumeCall,
    SendVmwi,
    State,
    StopTone,
    Tone,
    TransferCall,
)


def state_of(port: PortMachine) -> State:
    return port.state  # (a call: mypy would narrow ``port.state`` across handle())


def connected(flash_mode: FlashMode = FlashMode.TRANSFER) -> PortMachine:
    settings = PortSettings(dial_plan=DialPlan.parse("(1xxx|911S0)"), flash_mode=flash_mode)
    port = PortMachine(port=0, settings=settings)
    port.handle(OffHook(), 0.0)
    for k, key in enumerate("1234"):
        port.handle(Digit(key), 0.5 + k * 0.3)
    port.handle(CallAnswered("port0-1"), 3.0)
    assert state_of(port) is State.CONNECTED
    return port


def consulting(port: PortMachine, target: str = "1002") -> list[object]:
    """Flash and dial ``target``: returns the commands of the last digit."""
    out = port.handle(Flash(), 10.0)
    assert out == [DisconnectMedia(), HoldCall("port0-1"), PlayTone(Tone.DIAL)]
    assert state_of(port) is State.TRANSFER_DIALING
    assert port.handle(Digit(target[0]), 11.0) == [StopTone()]
    last: list[object] = []
    for k, key in enumerate(target[1:]):
        last = list(port.handle(Digit(key), 11.3 + k * 0.3))
    return last


def test_blind_transfer_hang_up_while_the_target_rings() -> None:
    port = connected()
    assert consulting(port) == [StopTone(), PlaceCall("port0-2", "1002")]
    assert state_of(port) is State.CONSULTING
    assert port.handle(CallProgress("port0-2"), 12.5) == [PlayTone(Tone.RINGBACK)]
    out = port.handle(OnHook(), 13.0)
    assert out == [
        StopTone(),
        DisconnectMedia(),
        HangUp("port0-2"),
        TransferCall("port0-1", "1002"),
    ]
    assert state_of(port) is State.IDLE and port.call_id is None
    # the next call is an ordinary one
    assert port.handle(OffHook(), 20.0) == [PlayTone(Tone.DIAL)]


def test_attended_transfer_talk_to_the_target_then_hang_up() -> None:
    port = connected()
    consulting(port)
    assert port.handle(CallAnswered("port0-2"), 13.0) == [StopTone(), ConnectMedia("port0-2")]
    assert port.handle(Digit("9"), 14.0) == [RelayDtmf("port0-2", "9")]
    out = port.handle(OnHook(), 15.0)
    assert out == [StopTone(), DisconnectMedia(), AttendedTransfer("port0-1", "port0-2")]
    assert state_of(port) is State.IDLE


def test_busy_target_goes_back_to_the_held_call() -> None:
    port = connected()
    consulting(port)
    out = port.handle(CallFailed("port0-2", 486), 13.0)
    assert out == [DisconnectMedia(), StopTone(), ResumeCall("port0-1"), ConnectMedia("port0-1")]
    assert state_of(port) is State.CONNECTED and port.call_id == "port0-1"


def test_held_party_hangs_up_the_consultation_becomes_the_call() -> None:
    port = connected()
    consulting(port)
    port.handle(CallAnswered("port0-2"), 13.0)
    assert port.handle(CallEnded("port0-1"), 14.0) == []
    assert state_of(port) is State.CONNECTED and port.call_id == "port0-2"
    assert HangUp("port0-2") in port.handle(OnHook(), 15.0)


def test_flash_again_goes_back_to_the_call() -> None:
    for keys in ("", "10", "1002"):
        port = connected()
        port.handle(Flash(), 10.0)
        for k, key in enumerate(keys):
            port.handle(Digit(key), 11.0 + k * 0.3)
        out = port.handle(Flash(), 14.0)
        expected: list[object] = [StopTone()]
        if len(keys) == 4:  # the consultation call is hung up first
            expected += [DisconnectMedia(), HangUp("port0-2")]
        expected += [ResumeCall("port0-1"), ConnectMedia("port0-1")]
        assert out == expected, keys
        assert state_of(port) is State.CONNECTED
        assert port.handle(Digit("5"), 15.0) == [RelayDtmf("port0-1", "5")]


def test_invalid_target_goes_back_to_the_call() -> None:
    port = connected()
    port.handle(Flash(), 10.0)
    out = port.handle(Digit("5"), 11.0)  # no rule starts with 5
    assert ResumeCall("port0-1") in out and state_of(port) is State.CONNECTED


def test_interdigit_timeout_goes_back_to_the_call() -> None:
    port = connected()
    port.handle(Flash(), 10.0)
    port.handle(Digit("1"), 11.0)
    deadline = port.get_timer()
    assert deadline is not None
    out = port.handle_timer(deadline)
    assert ResumeCall("port0-1") in out and state_of(port) is State.CONNECTED


def test_hang_up_before_the_target_is_complete_hangs_up() -> None:
    port = connected()
    port.handle(Flash(), 10.0)
    port.handle(Digit("1"), 11.0)
    out = port.handle(OnHook(), 12.0)
    assert HangUp("port0-1") in out and not any(isinstance(c, TransferCall) for c in out)
    assert state_of(port) is State.IDLE


def test_far_end_hangs_up_while_we_dial_the_target() -> None:
    port = connected()
    port.handle(Flash(), 10.0)
    out = port.handle(CallEnded("port0-1"), 11.0)
    assert PlayTone(Tone.REORDER) in out and state_of(port) is State.DISCONNECTED
    assert port.dialled == ""


def test_flash_without_transfer_mode_does_not_transfer() -> None:
    port = connected(FlashMode.IGNORE)
    assert port.handle(Flash(), 10.0) == []
    assert state_of(port) is State.CONNECTED


def test_call_replaced_moves_the_port_to_the_new_call() -> None:
    port = connected()
    assert port.handle(CallReplaced("port0-1", "xfer-abc"), 10.0) == [ConnectMedia("xfer-abc")]
    assert port.call_id == "xfer-abc" and state_of(port) is State.CONNECTED
    assert port.handle(Digit("7"), 11.0) == [RelayDtmf("xfer-abc", "7")]
    assert port.handle(CallEnded("port0-1"), 12.0) == []  # the old call is gone
    out = port.handle(OnHook(), 13.0)
    assert HangUp("xfer-abc") in out


def test_call_replaced_for_another_call_is_ignored() -> None:
    port = connected()
    assert port.handle(CallReplaced("other", "xfer-abc"), 10.0) == []
    assert port.call_id == "port0-1"


def test_message_waiting_gives_stutter_and_survives_a_settings_change() -> None:
    port = PortMachine(port=0)
    assert port.handle(MessageWaiting(True), 0.0) == [SendVmwi(True)]  # the idle phone's lamp
    assert port.handle(OffHook(), 1.0) == [PlayTone(Tone.STUTTER)]
    # while the phone listens to dial tone, the tone follows the indication
    assert port.handle(MessageWaiting(False), 2.0) == [PlayTone(Tone.DIAL)]
    assert port.handle(MessageWaiting(False), 2.5) == []
    assert port.handle(MessageWaiting(True), 3.0) == [PlayTone(Tone.STUTTER)]
    port.handle(OnHook(), 4.0)
    port.update_settings(PortSettings())  # e.g. a provisioning resync
    assert port.settings.message_waiting
    assert port.handle(OffHook(), 5.0) == [PlayTone(Tone.STUTTER)]


def test_message_waiting_during_a_call_reaches_the_lamp_at_hang_up() -> None:
    port = connected()
    assert port.handle(MessageWaiting(True), 10.0) == []
    assert state_of(port) is State.CONNECTED and port.call_id == "port0-1"
    out = port.handle(OnHook(), 11.0)
    assert out[-1] == SendVmwi(True) and HangUp("port0-1") in out
    assert port.handle(OffHook(), 12.0) == [PlayTone(Tone.STUTTER)]
    assert SendVmwi(True) not in port.handle(OnHook(), 13.0)  # told once


def test_vmwi_only_on_change_and_when_enabled() -> None:
    port = PortMachine(port=0)
    assert port.handle(MessageWaiting(False), 0.0) == [SendVmwi(False)]
    assert port.handle(MessageWaiting(False), 1.0) == []
    assert port.handle(MessageWaiting(True), 2.0) == [SendVmwi(True)]
    quiet = PortMachine(port=0, settings=PortSettings(vmwi=False))
    assert quiet.handle(MessageWaiting(True), 0.0) == []
    quiet.handle(OffHook(), 1.0)
    assert quiet.handle(OnHook(), 2.0) == [StopTone()]


EVENTS = st.sampled_from(
    [
        OffHook(),
        OnHook(),
        Flash(),
        Digit("1"),
        Digit("0"),
        Digit("2"),
        Digit("5"),
        CallEnded("port0-1"),
        CallEnded("port0-2"),
        CallAnswered("port0-2"),
        CallProgress("port0-2"),
        CallFailed("port0-2", 486),
        CallReplaced("port0-1", "x1"),
        MessageWaiting(True),
        MessageWaiting(False),
        IncomingCall("in-1"),
    ]
)


@given(st.lists(EVENTS, max_size=40))
def test_any_sequence_keeps_the_machine_consistent(events: list[Event]) -> None:
    port = connected()
    now = 10.0
    for event in events:
        now += 0.2
        for command in port.handle(event, now):
            if isinstance(command, TransferCall | AttendedTransfer):
                assert command.call_id in ("port0-1", "x1")  # the held call (maybe replaced)
                assert state_of(port) is State.IDLE
        if state_of(port) in (State.CONNECTED, State.TRANSFER_DIALING, State.CONSULTING):
            assert port.call_id is not None
        if state_of(port) is State.IDLE:
            assert port.call_id is None
        deadline = port.get_timer()
        if deadline is not None and deadline <= now:
            port.handle_timer(now)
