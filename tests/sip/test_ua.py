"""The call layer end to end: two real UserAgents exchanging real bytes on a fake clock
(an in-memory network that can drop datagrams), plus a challenging proxy built from the
real DigestServer."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from ata.sip.call import (
    CallAnswered,
    CallEarlyMedia,
    CallEnded,
    CallEvent,
    CallFailed,
    CallHeld,
    CallIncoming,
    CallResumed,
    CallRinging,
    DtmfReceived,
    MediaUpdate,
    MessageWaiting,
    caller_identity,
)
from ata.sip.digest import AuthOutcome, DigestClient, DigestServer
from ata.sip.message import Request, Response, make_response
from ata.sip.parser import parse_message
from ata.sip.sdp import AudioConfig, Direction
from ata.sip.ua import UaConfig, UserAgent
from ata.sip.ua_support import local_via

A = ("192.0.2.1", 5060)
B = ("192.0.2.2", 5060)


def make_ua(addr: tuple[str, int], user: str, peer: tuple[str, int], **kw: object) -> UserAgent:
    cfg = UaConfig(
        user=user,
        domain="example.com",
        local_host=addr[0],
        local_port=addr[1],
        display_name=user.title(),
        outbound_proxy=peer,
        audio=AudioConfig(address=addr[0], port=40000 if addr == A else 50000),
    )
    return UserAgent(cfg, **kw)  # type: ignore[arg-type]


class Net:
    """Delivers datagrams between UAs (and optional extra handlers) on a fake clock."""

    def __init__(self, uas: dict[tuple[str, int], UserAgent]) -> None:
        self.uas = uas
        self.now = 0.0
        self.drop: Callable[[bytes], bool] = lambda data: False
        self.handlers: dict[tuple[str, int], Callable[[bytes, tuple[str, int]], None]] = {}
        self.events: dict[tuple[str, int], list[CallEvent]] = {a: [] for a in uas}
        self.sent = 0
        self.captured: list[bytes] = []

    def pump(self) -> None:
        for _ in range(50):
            moved = False
            for addr, ua in self.uas.items():
                for out in ua.datagrams_to_send():
                    moved = True
                    self.sent += 1
                    if self.drop(out.data):
                        continue
                    if out.addr in self.uas:
                        self.uas[out.addr].receive(out.data, addr, self.now)
                    elif out.addr in self.handlers:
                        self.handlers[out.addr](out.data, addr)
                while (ev := ua.next_event()) is not None:
                    self.events[addr].append(ev)
            if not moved:
                return

    def run(self, until: float) -> None:
        self.pump()
        while True:
            deadlines = [d for ua in self.uas.values() if (d := ua.get_timer()) is not None]
            if not deadlines or min(deadlines) > until:
                break
            self.now = max(self.now, min(deadlines))
            for ua in self.uas.values():
                ua.handle_timer(self.now)
            self.pump()
        self.now = max(self.now, until)

    def take(self, addr: tuple[str, int]) -> list[CallEvent]:
        out, self.events[addr] = self.events[addr], []
        return out


def pair() -> tuple[UserAgent, UserAgent, Net]:
    alice = make_ua(A, "alice", B)
    bob = make_ua(B, "bob", A)
    return alice, bob, Net({A: alice, B: bob})


def _types(events: list[CallEvent]) -> list[type]:
    return [type(e) for e in events]


def ring_bob(alice: UserAgent, net: Net) -> CallIncoming:
    alice.place_call("c1", "bob", net.now)
    net.pump()
    incoming = [e for e in net.take(B) if isinstance(e, CallIncoming)]
    assert len(incoming) == 1
    return incoming[0]


def test_call_answer_and_hang_up() -> None:
    alice, bob, net = pair()
    incoming = ring_bob(alice, net)
    assert (incoming.number, incoming.name, incoming.withheld) == ("alice", "Alice", "")
    assert _types(net.take(A)) == [CallRinging]
    assert bob.answer(incoming.handle, net.now)
    net.pump()
    a_events = net.take(A)
    assert _types(a_events) == [CallAnswered, MediaUpdate]
    media = a_events[1]
    assert isinstance(media, MediaUpdate)
    assert media.media.remote_address == ("192.0.2.2", 50000)
    assert media.media.codec.name == "PCMU"
    (b_media,) = net.take(B)
    assert isinstance(b_media, MediaUpdate)
    assert b_media.media.remote_address == ("192.0.2.1", 40000)
    net.run(5.0)
    assert net.take(A) == []
    assert net.take(B) == []  # ACK arrived: no AckTimeout
    assert alice.hang_up("c1", net.now)
    net.pump()
    assert net.take(A) == [CallEnded("c1", "local")]
    assert net.take(B) == [CallEnded(incoming.handle, "remote-bye")]
    assert alice.calls == {}
    assert bob.calls == {}
    net.run(100.0)
    assert len(alice.tx) == 0
    assert len(bob.tx) == 0
    assert len(alice.dialogs) == 0
    assert len(bob.dialogs) == 0


def test_cancel_while_ringing() -> None:
    alice, bob, net = pair()
    incoming = ring_bob(alice, net)
    net.take(A)
    assert alice.hang_up("c1", net.now)
    net.pump()
    assert net.take(A) == [CallEnded("c1", "local")]
    assert net.take(B) == [CallEnded(incoming.handle, "cancelled")]
    assert not bob.answer(incoming.handle, net.now)
    net.run(100.0)
    assert net.take(A) == []  # the 487 is not reported as a failure
    assert len(alice.tx) == 0
    assert len(bob.tx) == 0


def test_hang_up_before_any_provisional_cancels_when_one_arrives() -> None:
    alice, bob, net = pair()
    alice.place_call("c1", "bob", 0.0)
    assert alice.hang_up("c1", 0.0)  # nothing received yet: CANCEL must wait for a 1xx
    (invite,) = alice.datagrams_to_send()
    assert invite.data.startswith(b"INVITE ")
    bob.receive(invite.data, A, 0.0)
    net.pump()
    assert net.take(A) == [CallEnded("c1", "local")]
    b_events = net.take(B)
    assert _types(b_events) == [CallIncoming, CallEnded]
    assert isinstance(b_events[1], CallEnded)
    assert b_events[1].cause == "cancelled"


def test_reject_is_reported_as_failure_with_status() -> None:
    alice, bob, net = pair()
    incoming = ring_bob(alice, net)
    net.take(A)
    assert bob.reject(incoming.handle, 486, net.now)
    net.pump()
    assert net.take(A) == [CallFailed("c1", 486, "Busy Here")]
    assert net.take(B) == [CallEnded(incoming.handle, "rejected")]


def test_no_answer_from_network_times_out_with_408() -> None:
    alice, _bob, net = pair()
    net.drop = lambda data: True
    alice.place_call("c1", "bob", 0.0)
    net.run(40.0)
    assert net.take(A) == [CallFailed("c1", 408, "timeout")]
    assert alice.calls == {}


def test_call_survives_heavy_loss() -> None:
    alice, bob, net = pair()
    rng = random.Random(7)
    net.drop = lambda data: rng.random() < 0.4  # 40 % loss, both directions
    alice.place_call("c1", "bob", 0.0)
    net.run(3.0)
    (incoming,) = [e for e in net.take(B) if isinstance(e, CallIncoming)]
    bob.answer(incoming.handle, net.now)
    net.run(40.0)
    assert CallAnswered("c1") in net.take(A)
    assert alice.calls["c1"].state.name == "CONNECTED"
    assert bob.calls[incoming.handle].state.name == "CONNECTED"


def _connected() -> tuple[UserAgent, UserAgent, Net, str]:
    alice, bob, net = pair()
    incoming = ring_bob(alice, net)
    bob.answer(incoming.handle, net.now)
    net.pump()
    net.take(A)
    net.take(B)
    return alice, bob, net, incoming.handle


def test_hold_and_resume_both_ways() -> None:
    alice, _bob, net, bob_handle = _connected()
    assert alice.hold("c1", net.now)
    net.pump()
    a_events = net.take(A)
    assert CallHeld("c1", by_remote=False) in a_events
    update = next(e for e in a_events if isinstance(e, MediaUpdate))
    assert update.media.direction is Direction.SENDONLY
    b_events = net.take(B)
    assert CallHeld(bob_handle, by_remote=True) in b_events
    b_update = next(e for e in b_events if isinstance(e, MediaUpdate))
    assert b_update.media.remote_address is None  # bob must not send while held
    assert alice.resume("c1", net.now)
    net.pump()
    assert CallResumed("c1", by_remote=False) in net.take(A)
    assert CallResumed(bob_handle, by_remote=True) in net.take(B)


def test_reinvite_glare_gets_491_and_retries() -> None:
    alice, bob, net, bob_handle = _connected()
    alice.hold("c1", net.now)
    bob.hold(bob_handle, net.now)
    net.pump()  # both re-INVITEs cross: each side answers the other 491
    assert not any(isinstance(e, CallHeld) and not e.by_remote for e in net.take(A))
    net.run(10.0)
    a_events = net.take(A) + net.take(B)
    held = [e for e in a_events if isinstance(e, CallHeld) and not e.by_remote]
    assert {e.handle for e in held} == {"c1", bob_handle}
    assert alice.calls["c1"].state.name == "CONNECTED"


def test_info_dtmf_relay() -> None:
    alice, _bob, net, bob_handle = _connected()
    dialog = alice.calls["c1"].dialog
    assert dialog is not None
    info = dialog.create_request(
        "INFO",
        local_via(alice.config),
        headers=[("Content-Type", "application/dtmf-relay")],
        body=b"Signal=5\r\nDuration=160\r\n",
    )
    alice.tx.send_request(info, B, net.now)
    net.pump()
    assert net.take(B) == [DtmfReceived(bob_handle, "5", 160)]


def test_ghost_calls_and_garbage_are_refused() -> None:
    _alice, bob, _net = pair()
    ghost = Request(
        "INVITE",
        "sip:100@192.0.2.2",
        [
            ("Via", "SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKscan"),
            ("From", '"sipvicious" <sip:100@203.0.113.5>;tag=x'),
            ("To", "<sip:100@192.0.2.2>"),
            ("Call-ID", "scan1"),
            ("CSeq", "1 INVITE"),
            ("Max-Forwards", "70"),
        ],
    )
    bob.receive(ghost.to_bytes(), ("203.0.113.5", 5060), 0.0)
    statuses = [parse_message(o.data).status for o in bob.datagrams_to_send()]  # type: ignore[union-attr]
    assert statuses == [100, 404]
    assert bob.next_event() is None
    bob.receive(
        b"INVITE sip:bob@x SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKq\r\n"
        b"From: <sip:a@b>;tag=1\r\nTo: <sip:bob@x>\r\nCall-ID: z\r\nCSeq: 1 INVITE\r\n"
        b"Content-Length: 99\r\n\r\n",
        ("198.51.100.1", 5060),
        0.0,
    )
    (answer,) = bob.datagrams_to_send()
    assert parse_message(answer.data).status == 400  # type: ignore[union-attr]
    bob.receive(b"\x00\xffgarbage", ("198.51.100.1", 5060), 0.0)
    assert bob.datagrams_to_send() == []
    assert bob.stats["parse_errors"] == 2
    assert bob.next_event() is None


def test_invite_whose_accept_excludes_sdp_is_406_before_ringing() -> None:
    """RFC 4475 §3.3.15 (TC_SDP01_V): our answer could only be SDP."""
    data = (Path(__file__).parent / "data" / "rfc4475" / "TC_SDP01_V.dat").read_bytes()
    bob = make_ua(B, "user", A)
    bob.receive(data, ("192.0.2.15", 5060), 0.0)
    answers = [parse_message(o.data) for o in bob.datagrams_to_send()]
    assert [a.status for a in answers] == [100, 406]  # type: ignore[union-attr]
    assert answers[1].headers.get("Accept") == "application/sdp"
    assert bob.next_event() is None
    assert not bob.calls


def test_bad_sdp_and_no_common_codec_rejected_before_ringing() -> None:
    alice, bob, net = pair()
    bob_gsm_only = make_ua(B, "bob", A)
    bob_gsm_only._audio = AudioConfig(address=B[0], port=5000, codecs=("GSM",))
    net.uas[B] = bob_gsm_only
    alice.place_call("c1", "bob", 0.0)
    net.pump()
    assert net.take(B) == []
    assert net.take(A) == [CallFailed("c1", 488, "Not Acceptable Here")]
    del bob


def test_message_waiting_notify() -> None:
    _alice, bob, _net = pair()
    notify = Request(
        "NOTIFY",
        "sip:bob@192.0.2.2",
        [
            ("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKmwi"),
            ("From", "<sip:voicemail@example.com>;tag=v"),
            ("To", "<sip:bob@example.com>"),
            ("Call-ID", "mwi1"),
            ("CSeq", "1 NOTIFY"),
            ("Event", "message-summary"),
            ("Content-Type", "application/simple-message-summary"),
        ],
        body=b"Messages-Waiting: yes\r\nVoice-Message: 2/8 (0/2)\r\n",
    )
    bob.receive(notify.to_bytes(), A, 0.0)
    ev = bob.next_event()
    assert isinstance(ev, MessageWaiting)
    assert ev.waiting


def test_proxy_auth_challenge_is_answered_once() -> None:
    server = DigestServer("example.com", b"k" * 32, algorithms=("MD5",))
    alice = make_ua(A, "alice", B, credentials=DigestClient("alice", "s3cret"))
    proxy_log: list[int] = []
    net = Net({A: alice})

    def proxy(data: bytes, src: tuple[str, int]) -> None:
        msg = parse_message(data)
        if not isinstance(msg, Request) or msg.method != "INVITE":
            return
        auth = msg.headers.get("Proxy-Authorization")
        if auth is None:
            resp = make_response(
                msg,
                407,
                to_tag="p",
                headers=[("Proxy-Authenticate", v) for v in server.challenges(0.0)],
            )
        else:
            result = server.verify(auth, "INVITE", {"alice": "s3cret"}.get, 0.0)
            resp = make_response(
                msg,
                200 if result.outcome is AuthOutcome.OK else 403,
                to_tag="p",
                headers=[("Contact", "<sip:bob@192.0.2.2>")],
                body=_answer_sdp(),
            )
            if resp.status == 200:
                resp.headers.add("Content-Type", "application/sdp")
        proxy_log.append(resp.status)
        alice.receive(resp.to_bytes(), src, net.now)

    net.handlers[B] = proxy
    alice.place_call("c1", "bob", 0.0)
    net.pump()
    assert proxy_log == [407, 200]
    assert CallAnswered("c1") in net.take(A)


def test_wrong_password_fails_without_looping() -> None:
    server = DigestServer("example.com", b"k" * 32, algorithms=("MD5",))
    alice = make_ua(A, "alice", B, credentials=DigestClient("alice", "wrong"))
    net = Net({A: alice})
    statuses: list[int] = []

    def proxy(data: bytes, src: tuple[str, int]) -> None:
        msg = parse_message(data)
        if isinstance(msg, Request) and msg.method == "INVITE":
            resp = make_response(
                msg,
                407,
                to_tag="p",
                headers=[("Proxy-Authenticate", v) for v in server.challenges(0.0)],
            )
            statuses.append(407)
            alice.receive(resp.to_bytes(), src, 0.0)

    net.handlers[B] = proxy
    alice.place_call("c1", "bob", 0.0)
    net.pump()
    assert statuses == [407, 407]
    assert net.take(A) == [CallFailed("c1", 407, "Proxy Authentication Required")]


def _answer_sdp() -> bytes:
    return (
        b"v=0\r\no=- 1 1 IN IP4 192.0.2.2\r\ns=-\r\nc=IN IP4 192.0.2.2\r\nt=0 0\r\n"
        b"m=audio 50000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    )


def test_early_media_from_183_with_sdp() -> None:
    alice = make_ua(A, "alice", B)
    net = Net({A: alice})

    def proxy(data: bytes, src: tuple[str, int]) -> None:
        msg = parse_message(data)
        if isinstance(msg, Request) and msg.method == "INVITE":
            resp = make_response(
                msg,
                183,
                to_tag="e",
                body=_answer_sdp(),
                headers=[("Content-Type", "application/sdp")],
            )
            alice.receive(resp.to_bytes(), src, 0.0)

    net.handlers[B] = proxy
    alice.place_call("c1", "bob", 0.0)
    net.pump()
    (ev,) = net.take(A)
    assert isinstance(ev, CallEarlyMedia)
    assert ev.media.remote_address == ("192.0.2.2", 50000)


def _invite_with(headers: list[tuple[str, str]]) -> Request:
    base = [
        ("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKid"),
        ("To", "<sip:bob@example.com>"),
        ("Call-ID", "id1"),
        ("CSeq", "1 INVITE"),
    ]
    return parse_message(Request("INVITE", "sip:bob@example.com", base + headers).to_bytes())  # type: ignore[return-value]


def test_caller_identity_sources_and_privacy() -> None:
    plain = _invite_with([("From", '"Ada L" <sip:+15551234@example.com>;tag=1')])
    assert caller_identity(plain) == ("+15551234", "Ada L", "")
    pai = _invite_with(
        [
            ("From", '"Trunk" <sip:trunk@example.com>;tag=1'),
            ("P-Asserted-Identity", '"Grace H" <sip:+15550001@carrier.example>, <tel:+15550001>'),
        ]
    )
    assert caller_identity(pai) == ("+15550001", "Grace H", "")
    tel = _invite_with(
        [
            ("From", "<sip:x@example.com>;tag=1"),
            ("P-Asserted-Identity", "<tel:+4930123;phone-context=x>"),
        ]
    )
    assert caller_identity(tel)[0] == "+4930123"
    rpid = _invite_with(
        [
            ("From", "<sip:gw@example.com>;tag=1"),
            ("Remote-Party-ID", '"Secret" <sip:+1555@example.com>;party=calling;privacy=full'),
        ]
    )
    assert caller_identity(rpid)[2] == "private"
    anon = _invite_with([("From", '"Anonymous" <sip:anonymous@anonymous.invalid>;tag=1')])
    assert caller_identity(anon) == ("", "", "private")
    withheld = _invite_with([("From", '"Bob" <sip:+1555@example.com>;tag=1'), ("Privacy", "id")])
    assert caller_identity(withheld)[0] == ""
    assert caller_identity(withheld)[2] == "private"
    nouser = _invite_with([("From", "<sip:example.com>;tag=1")])
    assert caller_identity(nouser) == ("", "", "unavailable")


def test_alert_info_reaches_the_line() -> None:
    _alice, bob, _net = pair()
    req = Request(
        "INVITE",
        "sip:bob@192.0.2.2",
        [
            ("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKai"),
            ("From", "<sip:alice@example.com>;tag=a"),
            ("To", "<sip:bob@example.com>"),
            ("Call-ID", "ai1"),
            ("CSeq", "1 INVITE"),
            ("Alert-Info", "<http://127.0.0.1/Bellcore-dr2>, <urn:alert:service:call-waiting>"),
        ],
    )
    bob.receive(req.to_bytes(), A, 0.0)
    ev = bob.next_event()
    assert isinstance(ev, CallIncoming)
    assert ev.alert_info == ("<http://127.0.0.1/Bellcore-dr2>", "<urn:alert:service:call-waiting>")
    assert not ev.offer
    assert bob.answer(ev.handle, 0.0)
    ok = [parse_message(o.data) for o in bob.datagrams_to_send()][-1]
    assert isinstance(ok, Response)
    assert ok.status == 200
    assert ok.body.startswith(b"v=0")  # no offer in the INVITE: we offer in the 200


def test_unanswered_incoming_call_times_out_and_leaves_no_state() -> None:
    alice, bob, net = pair()
    net.drop = lambda data: b"CANCEL" in data.split(b"\r\n", 1)[0]
    incoming = ring_bob(alice, net)
    assert len(bob.dialogs) == 1  # the early dialog of our 180
    net.run(400.0)  # nobody answers; the INVITE server guard (300 s) gives up
    assert CallEnded(incoming.handle, "timeout") in net.take(B)
    assert bob.calls == {}
    assert len(bob.dialogs) == 0
    net.run(800.0)
    assert len(bob.tx) == 0


def test_no_final_response_after_timer_c_cancels_the_far_end() -> None:
    alice, _bob, net = pair()
    incoming = ring_bob(alice, net)
    assert _types(net.take(A)) == [CallRinging]
    net.run(200.0)  # Timer C (180 s) on Alice's INVITE: CANCEL, fail with 408
    assert net.take(A) == [CallFailed("c1", 408, "timeout")]
    assert net.take(B) == [CallEnded(incoming.handle, "cancelled")]


def test_every_call_may_be_challenged_again() -> None:
    server = DigestServer("example.com", b"k" * 32, algorithms=("MD5",))
    alice = make_ua(A, "alice", B, credentials=DigestClient("alice", "s3cret"))
    net = Net({A: alice})
    outcomes: list[int] = []

    def proxy(data: bytes, src: tuple[str, int]) -> None:
        msg = parse_message(data)
        if not isinstance(msg, Request) or msg.method != "INVITE":
            return
        auth = msg.headers.get("Proxy-Authorization")
        if auth is None:
            challenge = [("Proxy-Authenticate", v) for v in server.challenges(net.now)]
            resp = make_response(msg, 407, to_tag="p", headers=challenge)
        else:
            ok = server.verify(auth, "INVITE", {"alice": "s3cret"}.get, net.now)
            resp = make_response(msg, 200 if ok.outcome is AuthOutcome.OK else 403, to_tag="p")
            resp.headers.add("Contact", "<sip:bob@192.0.2.2>")
            resp.headers.add("Content-Type", "application/sdp")
            resp.body = _answer_sdp()
        outcomes.append(resp.status)
        alice.receive(resp.to_bytes(), src, net.now)

    net.handlers[B] = proxy
    for handle in ("c1", "c2"):
        alice.place_call(handle, "bob", net.now)
        net.pump()
        assert CallAnswered(handle) in net.take(A)
        alice.hang_up(handle, net.now)
        net.pump()
        net.take(A)
    assert outcomes == [407, 200, 407, 200]


def test_forked_copy_of_an_invite_is_a_loop_not_a_second_call() -> None:
    alice, bob, _net = pair()
    alice.place_call("c1", "bob", 0.0)
    (invite,) = alice.datagrams_to_send()
    copy = invite.data.replace(b"branch=z9hG4bK", b"branch=z9hG4bKother", 1)
    bob.receive(invite.data, A, 0.0)
    bob.receive(copy, ("192.0.2.77", 5060), 0.0)
    statuses = [parse_message(o.data).status for o in bob.datagrams_to_send()]  # type: ignore[union-attr]
    assert statuses == [100, 180, 100, 482]
    assert [type(e) for e in iter(bob.next_event, None)] == [CallIncoming]


def test_delayed_offer_answer_arrives_in_ack() -> None:
    from ata.sip.sdp import make_answer, parse_sdp

    _alice, bob, _net = pair()
    invite = Request(
        "INVITE",
        "sip:bob@192.0.2.2",
        [
            ("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKdo1"),
            ("From", "<sip:alice@example.com>;tag=a"),
            ("To", "<sip:bob@example.com>"),
            ("Call-ID", "delayed-1"),
            ("CSeq", "1 INVITE"),
            ("Contact", "<sip:alice@192.0.2.1>"),
        ],
    )
    bob.receive(invite.to_bytes(), A, 0.0)
    incoming = bob.next_event()
    assert isinstance(incoming, CallIncoming)
    assert not incoming.offer
    bob.answer(incoming.handle, 0.1)
    ok = parse_message(bob.datagrams_to_send()[-1].data)
    assert isinstance(ok, Response)
    assert ok.status == 200
    answer, _ = make_answer(
        parse_sdp(ok.body),
        AudioConfig(address="192.0.2.1", port=41000),
        session_id=7,
        session_version=1,
    )
    ack = Request(
        "ACK",
        "sip:bob@192.0.2.2",
        [
            ("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKdo2"),
            ("From", "<sip:alice@example.com>;tag=a"),
            ("To", ok.headers.get("To")),
            ("Call-ID", "delayed-1"),
            ("CSeq", "1 ACK"),
            ("Content-Type", "application/sdp"),
        ],
        body=answer.to_bytes(),
    )
    bob.receive(ack.to_bytes(), A, 0.2)
    update = bob.next_event()
    assert isinstance(update, MediaUpdate)
    assert update.media.remote_address == ("192.0.2.1", 41000)


def test_sdp_session_id_is_stable_and_versions_grow() -> None:
    from ata.sip.sdp import parse_sdp

    alice, bob, net, _handle = _connected()
    sent: list[bytes] = []
    original = net.drop
    net.drop = lambda data: bool(sent.append(data)) or original(data)
    alice.hold("c1", net.now)
    net.pump()
    alice.resume("c1", net.now)
    net.pump()
    offers = [parse_message(d) for d in sent if d.startswith(b"INVITE ")]
    origins = [parse_sdp(m.body).origin for m in offers]
    first = parse_sdp(alice.calls["c1"].invite.body).origin
    assert {o.session_id for o in origins} == {first.session_id}
    assert [int(o.session_version) for o in origins] == [2, 3]
    del bob


def test_update_without_sdp_is_a_refresh() -> None:
    alice, bob, net, bob_handle = _connected()
    dialog = alice.calls["c1"].dialog
    assert dialog is not None
    sent: list[bytes] = []
    net.drop = lambda data: bool(sent.append(data))
    update = dialog.create_request("UPDATE", local_via(alice.config))
    alice.tx.send_request(update, B, net.now)
    net.pump()
    answers = [parse_message(d) for d in sent if d.startswith(b"SIP/2.0")]
    assert [(r.status, r.cseq.method, r.body) for r in answers] == [(200, "UPDATE", b"")]  # type: ignore[union-attr]
    assert net.take(B) == []  # no media change reported
    del bob_handle, bob


def test_2xx_crossing_our_cancel_is_acked_and_byed() -> None:
    alice, bob, net = pair()
    incoming = ring_bob(alice, net)
    net.take(A)
    net.drop = lambda data: data.startswith(b"CANCEL ")  # the CANCEL is lost
    assert alice.hang_up("c1", net.now)
    net.pump()
    assert net.take(A) == [CallEnded("c1", "local")]
    assert bob.answer(incoming.handle, net.now)  # Bob answers before any CANCEL arrives
    net.pump()
    b_events = net.take(B)
    assert CallEnded(incoming.handle, "remote-bye") in b_events
    assert net.take(A) == []  # nothing more for Alice's line: the call was already over
    net.run(net.now + 100.0)
    assert alice.calls == {}
    assert bob.calls == {}
    assert len(alice.tx) == 0
    assert len(bob.tx) == 0


def _in_dialog_request(
    ua: UserAgent, handle: str, method: str, body: bytes = b"", ctype: str | None = None
) -> Request:
    dialog = ua.calls[handle].dialog
    assert dialog is not None
    headers: list[tuple[str, object]] = [] if ctype is None else [("Content-Type", ctype)]
    return dialog.create_request(method, local_via(ua.config), headers=headers, body=body)


def _answers(net: Net, method: str) -> list[Response]:
    out = []
    for data in net.captured:
        if data.startswith(b"SIP/2.0"):
            msg = parse_message(data)
            if isinstance(msg, Response) and msg.cseq.method == method:
                out.append(msg)
    return out


def _capture(net: Net) -> None:
    """Record every datagram (dropping none)."""
    net.captured = []
    net.drop = lambda data: bool(net.captured.append(data))


def test_in_dialog_options_refer_and_bad_reinvite_offers() -> None:
    alice, bob, net, bob_handle = _connected()
    _capture(net)
    for method in ("OPTIONS", "REFER"):
        alice.tx.send_request(_in_dialog_request(alice, "c1", method), B, net.now)
    bad = _in_dialog_request(alice, "c1", "INVITE", b"v=0\r\nbroken\r\n", "application/sdp")
    alice.tx.send_request(bad, B, net.now)
    gsm_only = (
        b"v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
        b"m=audio 40000 RTP/AVP 3\r\na=rtpmap:3 GSM/8000\r\n"
    )
    alice.tx.send_request(
        _in_dialog_request(alice, "c1", "UPDATE", gsm_only, "application/sdp"), B, net.now
    )
    net.pump()
    assert [r.status for r in _answers(net, "OPTIONS")] == [200]
    assert [r.status for r in _answers(net, "REFER")] == [400]  # REFER without Refer-To
    assert [r.status for r in _answers(net, "INVITE")] == [100, 400]
    assert [r.status for r in _answers(net, "UPDATE")] == [488]
    assert bob.calls[bob_handle].state.name == "CONNECTED"  # the call survives bad offers
    net.take(B)


def test_reinvite_without_offer_gets_our_offer_and_answer_in_ack() -> None:
    alice, bob, net, bob_handle = _connected()
    _capture(net)
    reinvite = _in_dialog_request(alice, "c1", "INVITE")
    alice.tx.send_request(reinvite, B, net.now)
    net.pump()
    (ok,) = [r for r in _answers(net, "INVITE") if r.status == 200]
    assert ok.body.startswith(b"v=0")
    assert bob.calls[bob_handle].local_offer is not None  # waiting for the answer in the ACK
    del alice


def test_request_in_unknown_dialog_gets_481() -> None:
    alice, bob, net, _bob_handle = _connected()
    _capture(net)
    stray = _in_dialog_request(alice, "c1", "INFO")
    stray.headers.set("To", "<sip:bob@example.com>;tag=unknown")
    alice.tx.send_request(stray, B, net.now)
    net.pump()
    assert [r.status for r in _answers(net, "INFO")] == [481]
    del bob
