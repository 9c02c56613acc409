"""Interop with baresip (a real SIP phone): pi-ata's UserAgent calls it, baresip auto-answers,
pi-ata puts the call on hold and resumes it (re-INVITEs), baresip hangs up (BYE to us)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

from ata.sip.call import CallAnswered, CallEnded, CallEvent, CallHeld, CallResumed, MediaUpdate
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
