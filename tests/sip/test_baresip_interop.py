"""Interop with baresip (a real SIP phone): pi-ata's UserAgent calls it, baresip auto-answers,
pi-ata puts the call on hold and resumes it (re-INVITEs), baresip hangs up (BYE to us)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

from ata.sip.call import (
    CallAnswered,
    CallEnded,
    CallEvent,
    CallHeld,
    CallIncoming,
    CallResumed,
    MediaUpdate,
)
from ata.sip.sdp import Direction
from tests.peers import LOOPBACK, free_port
from tests.peers.baresip import Baresip
from tests.sip.test_sipp_interop import _drive, _ua, now_s


def test_call_hold_resume_and_remote_hangup_with_baresip(
    baresip_factory: Callable[..., Baresip], tone_wav: Callable[..., Path]
) -> None:
    phone = baresip_factory(
        f"<sip:bob@{LOOPBACK}>;regint=0;answermode=auto;audio_codecs=PCMU;ptime=20",
        tone_wav(1000, seconds=30.0),
    )
    our_port = free_port(also_tcp=False)
    ua = _ua(our_port, "alice", proxy=(LOOPBACK, phone.sip_port))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, our_port))
        ua.place_call("c1", "bob", now_s())

        def until(kind: type) -> Callable[[CallEvent, float], bool]:
            return lambda ev, now: isinstance(ev, kind | CallEnded)

        answered = _drive(ua, sock, until(CallAnswered), deadline=10.0)
        assert CallAnswered("c1") in answered, answered
        first = next(e for e in answered if isinstance(e, MediaUpdate))
        assert first.media.remote_address is not None
        assert first.media.remote_address[0] == LOOPBACK
        assert first.media.codec.name == "PCMU"

        ua.hold("c1", now_s())
        held = _drive(ua, sock, until(CallHeld), deadline=10.0)
        assert CallHeld("c1", by_remote=False) in held, held
        update = next(e for e in held if isinstance(e, MediaUpdate))
        assert update.media.direction in (Direction.SENDONLY, Direction.INACTIVE)

        ua.resume("c1", now_s())
        resumed = _drive(ua, sock, until(CallResumed), deadline=10.0)
        assert CallResumed("c1", by_remote=False) in resumed, resumed
        update = next(e for e in resumed if isinstance(e, MediaUpdate))
        assert update.media.direction is Direction.SENDRECV

        phone.command("hangup")
        ended = _drive(ua, sock, until(CallEnded), deadline=10.0)
    assert CallEnded("c1", "remote-bye") in ended, ended
    assert ua.calls == {}


def test_baresip_calls_us_cancel_then_answer_remote_hold_and_local_hangup(
    baresip_factory: Callable[..., Baresip], tone_wav: Callable[..., Path]
) -> None:
    phone = baresip_factory(
        f"<sip:bob@{LOOPBACK}>;regint=0;audio_codecs=PCMU;ptime=20",
        tone_wav(1000, seconds=30.0),
    )
    our_port = free_port(also_tcp=False)
    ua = _ua(our_port, "alice")
    target = f"sip:alice@{LOOPBACK}:{our_port}"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, our_port))

        def until(kind: type) -> Callable[[CallEvent, float], bool]:
            return lambda ev, now: isinstance(ev, kind | CallEnded)

        # 1. A call we never answer: baresip gives up, CANCEL reaches us.
        phone.command("dial", target)
        ringing = _drive(ua, sock, until(CallIncoming), deadline=10.0)
        incoming = next(e for e in ringing if isinstance(e, CallIncoming))
        assert incoming.number == "bob"
        assert incoming.withheld == ""
        phone.command("hangup")
        ended = _drive(ua, sock, until(CallEnded), deadline=10.0)
        assert CallEnded(incoming.handle, "cancelled") in ended, ended

        # 2. A call we answer; baresip holds and resumes; we hang up.
        phone.command("dial", target)
        ringing = _drive(ua, sock, until(CallIncoming), deadline=10.0)
        incoming = next(e for e in ringing if isinstance(e, CallIncoming))
        assert ua.answer(incoming.handle, now_s())
        connected = _drive(ua, sock, until(MediaUpdate), deadline=5.0)
        assert any(isinstance(e, MediaUpdate) for e in connected)
        phone.wait_event("CALL_ESTABLISHED", timeout=10)
        phone.command("hold")
        held = _drive(ua, sock, until(CallHeld), deadline=10.0)
        assert CallHeld(incoming.handle, by_remote=True) in held, held
        phone.command("resume")
        resumed = _drive(ua, sock, until(CallResumed), deadline=10.0)
        assert CallResumed(incoming.handle, by_remote=True) in resumed, resumed
        assert ua.hang_up(incoming.handle, now_s())
        _drive(ua, sock, lambda ev, now: False, deadline=1.0)
        closed = phone.wait_event("CALL_CLOSED", timeout=10)
    assert closed["type"] == "CALL_CLOSED"
    assert ua.calls == {}
