"""Call transfer between real UserAgents on a fake clock: REFER sent and received (RFC 3515),
NOTIFY sipfrag progress, Referred-By, Replaces for attended transfer, failures."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ata.sip.call import (
    CallAnswered,
    CallEnded,
    CallEvent,
    CallFailed,
    CallIncoming,
    CallTransferred,
    TransferProgress,
    TransferRequested,
)
from ata.sip.message import Request
from ata.sip.parser import parse_message
from ata.sip.refer import (
    ReferError,
    parse_refer_to,
    refer_to_with_replaces,
    replaces_value,
    sipfrag,
    sipfrag_status,
)
from ata.sip.sdp import AudioConfig
from ata.sip.ua import UaConfig, UserAgent
from ata.sip.uri import SipURI
from tests.sip.test_ua import Net

A = ("192.0.2.1", 5060)
B = ("192.0.2.2", 5060)
C = ("192.0.2.3", 5060)
PROXY = ("192.0.2.9", 5060)
USERS = {"alice": A, "bob": B, "carol": C}


def _ua(addr: tuple[str, int], user: str) -> UserAgent:
    cfg = UaConfig(
        user=user,
        domain="example.com",
        local_host=addr[0],
        local_port=addr[1],
        display_name=user.title(),
        outbound_proxy=PROXY,
        audio=AudioConfig(address=addr[0], port=40000 + addr[1] % 7),
    )
    return UserAgent(cfg)


def trio() -> tuple[UserAgent, UserAgent, UserAgent, Net]:
    """alice, bob, carol behind a 'proxy' that hands each request to the UA its
    Request-URI names (responses go straight back along Via)."""
    alice, bob, carol = _ua(A, "alice"), _ua(B, "bob"), _ua(C, "carol")
    net = Net({A: alice, B: bob, C: carol})
    net.captured = []

    def record(data: bytes) -> bool:
        net.captured.append(data)
        return False  # record everything, drop none

    net.drop = record

    def proxy(data: bytes, src: tuple[str, int]) -> None:
        msg = parse_message(data)
        assert isinstance(msg, Request)
        assert isinstance(msg.uri, SipURI)
        dest = USERS[msg.uri.user_decoded or ""]
        net.uas[dest].receive(data, src, net.now)

    net.handlers[PROXY] = proxy
    return alice, bob, carol, net


def _sent(net: Net, method: str) -> list[Request]:
    out = []
    for data in net.captured:
        msg = parse_message(data)
        if isinstance(msg, Request) and msg.method == method:
            out.append(msg)
    return out


def connect(caller: UserAgent, callee: UserAgent, net: Net, handle: str, number: str) -> str:
    caller.place_call(handle, number, net.now)
    net.pump()
    callee_addr = USERS[callee.config.user]
    incoming = next(e for e in net.take(callee_addr) if isinstance(e, CallIncoming))
    assert callee.answer(incoming.handle, net.now)
    net.pump()
    assert any(isinstance(e, CallAnswered) for e in net.take(USERS[caller.config.user]))
    return incoming.handle


def _of(events: list[CallEvent], kind: type) -> list[CallEvent]:
    return [e for e in events if isinstance(e, kind)]


def test_blind_transfer_both_sides() -> None:
    alice, bob, carol, net = trio()
    bob_h = connect(alice, bob, net, "c1", "bob")
    # bob transfers alice to carol
    assert bob.transfer(bob_h, "carol", net.now)
    net.pump()
    asked = _of(net.take(A), TransferRequested)
    assert len(asked) == 1
    req = asked[0]
    assert isinstance(req, TransferRequested)
    assert (req.handle, req.replaces) == ("c1", False)
    assert req.target == "sip:carol@example.com"
    progress = net.take(B)
    assert TransferProgress(bob_h, 202) in progress
    assert TransferProgress(bob_h, 100) in progress
    # alice places the new call; carol rings and answers
    assert alice.start_transfer(req.new_handle, net.now)
    net.pump()
    invite = next(r for r in _sent(net, "INVITE") if r.uri.user_decoded == "carol")  # type: ignore[union-attr]
    assert "bob@example.com" in (invite.headers.get("Referred-By") or "")
    ring = next(e for e in net.take(C) if isinstance(e, CallIncoming))
    assert carol.answer(ring.handle, net.now)
    net.pump()
    a_events = net.take(A)
    assert CallTransferred("c1", req.new_handle) in a_events
    assert CallAnswered(req.new_handle) in a_events
    assert not _of(a_events, CallEnded)  # the old call ends silently for the line
    b_events = net.take(B)
    assert TransferProgress(bob_h, 200, final=True) in b_events
    assert CallEnded(bob_h, "transferred") in b_events
    notifies = _sent(net, "NOTIFY")
    assert [sipfrag_status(n.body) for n in notifies] == [100, 200]
    assert (notifies[-1].headers.get("Subscription-State") or "").startswith("terminated")
    assert all((n.headers.get("Event") or "").startswith("refer") for n in notifies)
    net.run(net.now + 40)
    assert "c1" not in alice.calls and bob_h not in bob.calls
    assert alice.calls[req.new_handle].state.name == "CONNECTED"
    assert not _of(net.take(A), CallEnded)


def test_transfer_target_busy_keeps_the_call() -> None:
    alice, bob, carol, net = trio()
    bob_h = connect(alice, bob, net, "c1", "bob")
    bob.transfer(bob_h, "carol", net.now)
    net.pump()
    req = _of(net.take(A), TransferRequested)[0]
    assert isinstance(req, TransferRequested)
    alice.start_transfer(req.new_handle, net.now)
    net.pump()
    ring = next(e for e in net.take(C) if isinstance(e, CallIncoming))
    carol.reject(ring.handle, 486, net.now)
    net.pump()
    a_events = net.take(A)
    assert CallFailed(req.new_handle, 486, "Busy Here") in a_events
    assert not _of(a_events, CallTransferred) and not _of(a_events, CallEnded)
    assert TransferProgress(bob_h, 486, final=True) in net.take(B)
    assert alice.calls["c1"].state.name == "CONNECTED"
    assert bob.calls[bob_h].state.name == "CONNECTED"
    # a second transfer of the same call is possible afterwards
    assert bob.transfer(bob_h, "carol", net.now)
    net.pump()
    assert _of(net.take(A), TransferRequested)


def test_transferor_hangs_up_early_end_is_deferred() -> None:
    alice, bob, carol, net = trio()
    bob_h = connect(alice, bob, net, "c1", "bob")
    bob.transfer(bob_h, "carol", net.now)
    net.pump()
    req = _of(net.take(A), TransferRequested)[0]
    assert isinstance(req, TransferRequested)
    bob.hang_up(bob_h, net.now)  # many PBXes BYE right after the 202
    net.pump()
    assert not _of(net.take(A), CallEnded)
    alice.start_transfer(req.new_handle, net.now)
    net.pump()
    ring = next(e for e in net.take(C) if isinstance(e, CallIncoming))
    carol.answer(ring.handle, net.now)
    net.pump()
    a_events = net.take(A)
    assert CallTransferred("c1", req.new_handle) in a_events
    assert not _of(a_events, CallEnded)


def test_transferor_hangs_up_then_target_fails_reports_the_end() -> None:
    alice, bob, carol, net = trio()
    bob_h = connect(alice, bob, net, "c1", "bob")
    bob.transfer(bob_h, "carol", net.now)
    net.pump()
    req = _of(net.take(A), TransferRequested)[0]
    assert isinstance(req, TransferRequested)
    bob.hang_up(bob_h, net.now)
    net.pump()
    alice.start_transfer(req.new_handle, net.now)
    net.pump()
    ring = next(e for e in net.take(C) if isinstance(e, CallIncoming))
    carol.reject(ring.handle, 603, net.now)
    net.pump()
    a_events = net.take(A)
    assert CallEnded("c1", "remote-bye") in a_events
    assert not _of(a_events, CallTransferred)


def test_abandoned_transfer_notifies_failure() -> None:
    alice, bob, _carol, net = trio()
    bob_h = connect(alice, bob, net, "c1", "bob")
    bob.transfer(bob_h, "carol", net.now)
    net.pump()
    req = _of(net.take(A), TransferRequested)[0]
    assert isinstance(req, TransferRequested)
    alice.abandon_transfer(req.new_handle, 503, net.now)
    net.pump()
    assert TransferProgress(bob_h, 503, final=True) in net.take(B)
    assert not alice.start_transfer(req.new_handle, net.now)
    assert alice.calls["c1"].state.name == "CONNECTED"


def test_attended_transfer_carries_replaces() -> None:
    alice, bob, carol, net = trio()
    bob_h = connect(alice, bob, net, "c1", "bob")
    # bob's consultation call with carol
    carol_h = connect(bob, carol, net, "c2", "carol")
    consult = bob.calls["c2"]
    assert consult.dialog is not None
    replaces = replaces_value(consult.call_id, consult.dialog.id.remote_tag, consult.local_tag)
    refer_to = refer_to_with_replaces(SipURI("example.com", user="carol"), replaces)
    assert bob.transfer(bob_h, "", net.now, replaces=refer_to)
    net.pump()
    req = _of(net.take(A), TransferRequested)[0]
    assert isinstance(req, TransferRequested) and req.replaces
    assert "?" not in req.target
    alice.start_transfer(req.new_handle, net.now)
    net.pump()
    invite = [r for r in _sent(net, "INVITE") if r.headers.get("Replaces")]
    assert len(invite) == 1
    assert invite[0].headers.get("Replaces") == replaces
    assert str(invite[0].uri) == "sip:carol@example.com"
    # carol (the target) matches Replaces to her call with bob: it is taken over
    incoming = next(e for e in net.take(C) if isinstance(e, CallIncoming))
    assert incoming.replaces == carol_h
    assert carol.answer(incoming.handle, net.now)
    assert carol.complete_replace(incoming.handle, net.now)
    net.pump()
    assert CallTransferred(carol_h, incoming.handle) in net.take(C)
    assert CallTransferred("c1", req.new_handle) in net.take(A)
    b_events = net.take(B)
    assert CallEnded("c2", "remote-bye") in b_events  # carol ended the consultation call
    assert CallEnded(bob_h, "transferred") in b_events
    net.run(net.now + 40)
    assert alice.calls[req.new_handle].state.name == "CONNECTED"
    assert carol.calls[incoming.handle].state.name == "CONNECTED"
    assert carol_h not in carol.calls and not bob.calls
    assert not _of(net.take(C), CallEnded)


def test_invite_with_replaces_that_matches_nothing() -> None:
    alice, bob, _carol, net = trio()
    bob_h = connect(alice, bob, net, "c1", "bob")
    call = bob.calls[bob_h]
    assert call.dialog is not None
    good = replaces_value(call.call_id, call.local_tag, call.dialog.id.remote_tag)
    cases = [
        (replaces_value("nope@x", call.local_tag, call.dialog.id.remote_tag), 481),
        (replaces_value(call.call_id, call.local_tag, "wrong"), 481),
        (good + ";early-only", 486),
        ("garbage", 400),
    ]
    stranger = ("192.0.2.50", 5060)
    statuses: list[int] = []
    net.handlers[stranger] = lambda data, src: statuses.append(int(data.split(b" ", 2)[1]))
    for n, (value, _status) in enumerate(cases):
        raw = (
            "INVITE sip:bob@192.0.2.2 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 192.0.2.50:5060;branch=z9hG4bKrepl{n}\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:dave@example.com>;tag=d1\r\n"
            f"To: <sip:bob@example.com>\r\nCall-ID: repl{n}@x\r\nCSeq: 1 INVITE\r\n"
            f"Contact: <sip:dave@192.0.2.50>\r\nReplaces: {value}\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        bob.receive(raw.encode(), stranger, net.now)
        net.pump()
    finals = [s for s in statuses if s >= 200]
    assert finals == [status for _value, status in cases]
    assert not _of(net.take(B), CallIncoming)
    assert bob.calls[bob_h].state.name == "CONNECTED"


def test_bad_refers_are_refused() -> None:
    alice, bob, _carol, net = trio()
    connect(alice, bob, net, "c1", "bob")
    dialog = alice.calls["c1"].dialog
    assert dialog is not None
    from ata.sip.ua_support import local_via

    for refer_to in ("<tel:+15551234>", "<sip:a@x>, <sip:b@y>", "<sip:a@x?Replaces=nope>"):
        refer = dialog.create_request(
            "REFER", local_via(alice.config), headers=[("Refer-To", refer_to)]
        )
        alice.tx.send_request(refer, PROXY, net.now)
    net.pump()
    answers = [
        m.status
        for d in net.captured
        if d.startswith(b"SIP/2.0")
        if not isinstance(m := parse_message(d), Request) and m.cseq.method == "REFER"
    ]
    assert answers == [400, 400, 400]
    assert not _of(net.take(B), TransferRequested)
    assert not _of(net.take(A), TransferRequested)


def test_refer_outside_a_dialog_is_forbidden() -> None:
    _alice, bob, _carol, net = trio()
    statuses: list[int] = []
    net.handlers[("192.0.2.50", 5060)] = lambda data, src: statuses.append(
        int(data.split(b" ", 2)[1])
    )
    raw = (
        "REFER sip:bob@192.0.2.2 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 192.0.2.50:5060;branch=z9hG4bKstranger1\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:evil@192.0.2.50>;tag=e1\r\nTo: <sip:bob@example.com>\r\n"
        "Call-ID: stranger@x\r\nCSeq: 1 REFER\r\nRefer-To: <sip:900@example.com>\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    bob.receive(raw.encode(), ("192.0.2.50", 5060), net.now)
    net.pump()
    assert statuses == [403]
    assert not _of(net.take(B), TransferRequested)


def test_parse_refer_to_rejects() -> None:
    def refer(*values: str) -> Request:
        return Request(
            "REFER",
            SipURI("x"),
            [("CSeq", "1 REFER"), *[("Refer-To", v) for v in values]],
        )

    for bad in ((), ("<tel:123>",), ("<sip:a@b?Replaces=abc>",), ("garbage<<",)):
        with pytest.raises(ReferError) as caught:
            parse_refer_to(refer(*bad))
        assert caught.value.status == 400
    uri, headers = parse_refer_to(refer("<sip:200@h;method=INVITE?Subject=x>"))
    assert str(uri) == "sip:200@h" and headers == []


@given(
    st.text(st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=";"), min_size=1),
    st.text("abcdef0123456789-", min_size=1, max_size=20),
    st.text("abcdef0123456789-", min_size=1, max_size=20),
)
def test_replaces_round_trips_through_refer_to(call_id: str, to_tag: str, from_tag: str) -> None:
    value = replaces_value(call_id, to_tag, from_tag)
    refer_to = refer_to_with_replaces(SipURI("h.example", user="bob"), value)
    req = Request("REFER", SipURI("x"), [("CSeq", "1 REFER"), ("Refer-To", refer_to)])
    uri, headers = parse_refer_to(req)
    assert str(uri) == "sip:bob@h.example"
    assert headers == [("Replaces", value)]


@given(st.integers(100, 699), st.text(st.characters(min_codepoint=32, max_codepoint=126)))
def test_sipfrag_round_trip(status: int, reason: str) -> None:
    assert sipfrag_status(sipfrag(status, reason)) == status


def test_sipfrag_garbage() -> None:
    for body in (b"", b"hello", b"SIP/2.0 99 x", b"SIP/2.0 abc", b"HTTP/1.1 200 OK"):
        assert sipfrag_status(body) is None


def test_second_refer_while_one_is_pending_gets_491() -> None:
    alice, bob, _carol, net = trio()
    bob_h = connect(alice, bob, net, "c1", "bob")
    assert bob.transfer(bob_h, "carol", net.now)
    net.pump()
    assert bob.transfer(bob_h, "carol", net.now)
    net.pump()
    assert len(_of(net.take(A), TransferRequested)) == 1  # one new call, not two
    b_events = net.take(B)
    assert TransferProgress(bob_h, 491, final=True) in b_events
    refer_answers = [
        m.status
        for d in net.captured
        if d.startswith(b"SIP/2.0")
        if not isinstance(m := parse_message(d), Request) and m.cseq.method == "REFER"
    ]
    assert sorted(refer_answers) == [202, 491]


def test_refer_while_we_hold_the_far_end_gets_491() -> None:
    alice, bob, _carol, net = trio()
    bob_h = connect(alice, bob, net, "c1", "bob")
    assert alice.hold("c1", net.now)  # alice's phone is consulting someone
    net.pump()
    net.take(A)
    assert bob.transfer(bob_h, "carol", net.now)
    net.pump()
    assert not _of(net.take(A), TransferRequested)
    assert TransferProgress(bob_h, 491, final=True) in net.take(B)
    assert alice.resume("c1", net.now)
    net.pump()
    assert bob.transfer(bob_h, "carol", net.now)
    net.pump()
    assert _of(net.take(A), TransferRequested)


def test_a_transfer_never_started_is_abandoned() -> None:
    alice, bob, _carol, net = trio()
    bob_h = connect(alice, bob, net, "c1", "bob")
    bob.transfer(bob_h, "carol", net.now)
    net.pump()
    assert _of(net.take(A), TransferRequested)
    bob.hang_up(bob_h, net.now)  # its end is deferred while the transfer is pending
    net.pump()
    assert not _of(net.take(A), CallEnded)
    net.run(net.now + 40)
    assert CallEnded("c1", "remote-bye") in net.take(A)  # reported once the transfer is given up
    assert not alice.calls and not alice._xfers
