"""RFC 3261 §12 dialogs: creation, routing, CSeq, target refresh, 481, glare; and a full call
between two in-memory UAs built from the real transaction layer and dialog set."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ata.sip.dialog import Dialog, DialogSet, DialogState
from ata.sip.errors import SipRequestRejected
from ata.sip.headers import Via
from ata.sip.message import Request, Response, make_response
from ata.sip.parser import parse_message
from ata.sip.transaction_layer import (
    AckReceived,
    RequestReceived,
    ResponseReceived,
    TransactionLayer,
)
from ata.sip.uri import SipURI

ALICE = ("192.0.2.1", 5060)
BOB = ("192.0.2.2", 5060)


def invite(record_route: list[str] | None = None) -> Request:
    headers: list[tuple[str, object]] = [
        ("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKinv1"),
        ("Max-Forwards", "70"),
        ("From", '"Alice" <sip:alice@example.com>;tag=atag'),
        ("To", "<sip:bob@example.com>"),
        ("Call-ID", "call-1@192.0.2.1"),
        ("CSeq", "10 INVITE"),
        ("Contact", "<sip:alice@192.0.2.1:5060>"),
    ]
    headers += [("Record-Route", rr) for rr in record_route or []]
    return Request("INVITE", "sip:bob@example.com", headers)


def via(branch: str = "z9hG4bKnew") -> Via:
    return Via("UDP", "192.0.2.1", 5060, {"branch": branch})


def answer(req: Request, status: int, tag: str = "btag", contact: str | None = None) -> Response:
    extra = [("Contact", contact or "<sip:bob@192.0.2.2:5062>")]
    return parse_message(make_response(req, status, to_tag=tag, headers=extra).to_bytes())  # type: ignore[return-value]


RR = ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
ALICE_TAGGED = "<sip:alice@example.com>;tag=atag"
BOB_TAGGED = "<sip:bob@example.com>;tag=btag"


def in_dialog(
    method: str, seq: int, frm: str, to: str, branch: str, contact: str | None = None
) -> Request:
    headers: list[tuple[str, object]] = [
        ("Via", f"SIP/2.0/UDP 192.0.2.1;branch={branch}"),
        ("From", frm),
        ("To", to),
        ("Call-ID", "call-1@192.0.2.1"),
        ("CSeq", f"{seq} {method}"),
    ]
    if contact:
        headers.append(("Contact", contact))
    return Request(method, "sip:x@192.0.2.2", headers)


def test_uac_dialog_early_then_confirmed_with_reversed_route_set() -> None:
    req = invite(RR)
    dialogs = DialogSet()
    ringing = answer(req, 180)
    early = dialogs.uac_response(req, ringing)
    assert early is not None
    assert early.state is DialogState.EARLY
    ok = answer(req, 200, contact="<sip:bob@192.0.2.2:7777>")
    confirmed = dialogs.uac_response(req, ok)
    assert confirmed is early
    assert early.state is DialogState.CONFIRMED
    assert not early.pending_invite_out
    assert [str(r.uri) for r in early.route_set] == [
        "sip:p2.example.com;lr",
        "sip:p1.example.com;lr",
    ]
    assert str(early.remote_target) == "sip:bob@192.0.2.2:7777"
    assert (early.id.local_tag, early.id.remote_tag) == ("atag", "btag")


def test_in_dialog_requests_loose_routing_cseq_and_ack() -> None:
    req = invite(RR)
    dialog = Dialog.from_uac(req, answer(req, 200))
    ack = dialog.create_ack(via("z9hG4bKack"))
    assert ack.method == "ACK"
    assert ack.cseq.seq == 10
    assert str(ack.uri) == "sip:bob@192.0.2.2:5062"
    assert [str(r.uri) for r in ack.routes] == ["sip:p2.example.com;lr", "sip:p1.example.com;lr"]
    info = dialog.create_request(
        "INFO",
        via("z9hG4bK1"),
        body=b"Signal=5\r\n",
        headers=[("Content-Type", "application/dtmf-relay")],
    )
    bye = dialog.create_request("BYE", via("z9hG4bK2"))
    assert (info.cseq.seq, bye.cseq.seq) == (11, 12)
    assert bye.from_.tag == "atag"
    assert bye.to.tag == "btag"
    assert bye.call_id == "call-1@192.0.2.1"
    assert "Contact" not in bye.headers
    assert dialog.terminated
    reinvite = Dialog.from_uac(req, answer(req, 200)).create_request("INVITE", via())
    assert str(reinvite.contacts[0].uri) == "sip:alice@192.0.2.1:5060"
    again = parse_message(bye.to_bytes())
    assert again == bye


def test_strict_router_first_hop_becomes_request_uri() -> None:
    req = invite(["<sip:strict.example.com;maddr=10.0.0.1>", "<sip:p1.example.com;lr>"])
    dialog = Dialog.from_uac(req, answer(req, 200))
    # UAC reverses: first hop is p1 (loose) -> loose routing.
    assert dialog.route_set[0].uri == SipURI("p1.example.com", params={"lr": None})
    strict_first = Dialog.from_uac(
        invite(["<sip:p1.example.com;lr>", "<sip:strict.example.com>"]),
        answer(invite(["<sip:p1.example.com;lr>", "<sip:strict.example.com>"]), 200),
    )
    bye = strict_first.create_request("BYE", via())
    assert str(bye.uri) == "sip:strict.example.com"
    assert [str(r.uri) for r in bye.routes] == ["sip:p1.example.com;lr", "sip:bob@192.0.2.2:5062"]


def test_uas_dialog_route_set_cseq_checks_and_target_refresh() -> None:
    req = invite(RR)
    dialogs = DialogSet()
    ok = make_response(req, 200, to_tag="btag", headers=[("Contact", "<sip:bob@192.0.2.2>")])
    dialog = dialogs.uas_response(req, ok)
    assert dialog is not None
    assert dialog.state is DialogState.CONFIRMED
    assert not dialog.is_uac
    assert [str(r.uri) for r in dialog.route_set] == [
        "sip:p1.example.com;lr",
        "sip:p2.example.com;lr",
    ]
    assert str(dialog.remote_target) == "sip:alice@192.0.2.1:5060"
    assert dialog.remote_seq == 10
    # Alice's re-INVITE with a new Contact refreshes the target.
    reinv = in_dialog(
        "INVITE", 11, ALICE_TAGGED, BOB_TAGGED, "z9hG4bKre", "<sip:alice@198.51.100.7:5099>"
    )
    assert dialogs.route_request(reinv) is dialog
    assert str(dialog.remote_target) == "sip:alice@198.51.100.7:5099"
    assert dialog.pending_invite_in
    dialog.sent_response(reinv, make_response(reinv, 200, to_tag="btag"))
    assert not dialog.pending_invite_in
    stale = in_dialog("INFO", 9, ALICE_TAGGED, BOB_TAGGED, "z9hG4bKold")
    with pytest.raises(SipRequestRejected) as rej:
        dialogs.route_request(stale)
    assert rej.value.status == 500
    # Our first request in a UAS dialog starts from a fresh CSeq.
    assert dialog.create_request("BYE", via()).cseq.seq == 1


def test_unknown_dialog_gets_481_and_out_of_dialog_passes() -> None:
    dialogs = DialogSet()
    req = invite()
    assert dialogs.route_request(req) is None  # no To tag: not in a dialog
    bye = in_dialog("BYE", 11, ALICE_TAGGED, "<sip:bob@example.com>;tag=nosuch", "z9hG4bKb")
    with pytest.raises(SipRequestRejected) as rej:
        dialogs.route_request(bye)
    assert rej.value.status == 481


def test_forked_early_dialogs_and_failure_cleanup() -> None:
    req = invite()
    dialogs = DialogSet()
    d1 = dialogs.uac_response(req, answer(req, 180, tag="fork1"))
    d2 = dialogs.uac_response(req, answer(req, 183, tag="fork2"))
    assert d1 is not None
    assert d2 is not None
    assert d1 is not d2
    assert len(dialogs) == 2
    assert dialogs.uac_response(req, answer(req, 100)) is None
    dialogs.uac_response(req, answer(req, 486, tag="fork1"))
    assert len(dialogs) == 0
    assert d1.terminated
    assert d2.terminated


def test_glare_491_and_retry_delays() -> None:
    req = invite()
    dialog = Dialog.from_uac(req, answer(req, 200))
    dialog.create_request("INVITE", via())  # our re-INVITE, pending
    theirs = in_dialog("INVITE", 1, BOB_TAGGED, ALICE_TAGGED, "z9hG4bKg")
    with pytest.raises(SipRequestRejected) as rej:
        dialog.receive_request(theirs)
    assert rej.value.status == 491


@given(st.floats(0.0, 0.999999))
def test_glare_retry_ranges(u: float) -> None:
    req = invite()
    owner = Dialog.from_uac(req, answer(req, 200))
    other = Dialog.from_uas(req, make_response(req, 200, to_tag="btag"))
    assert 2.1 <= owner.glare_retry_delay(u) <= 4.0 + 1e-9
    assert 0.0 <= other.glare_retry_delay(u) <= 2.0 + 1e-9


def test_dialog_cap() -> None:
    dialogs = DialogSet(max_dialogs=2)
    req = invite()
    dialogs.uac_response(req, answer(req, 180, tag="a"))
    dialogs.uac_response(req, answer(req, 180, tag="b"))
    with pytest.raises(SipRequestRejected) as rej:
        dialogs.uac_response(req, answer(req, 180, tag="c"))
    assert rej.value.status == 503


class _UA:
    """Minimal UA core for the test: transaction layer + dialog set, tied by hand."""

    def __init__(self, addr: tuple[str, int]) -> None:
        self.addr = addr
        self.tx = TransactionLayer()
        self.dialogs = DialogSet()
        self.log: list[str] = []

    def via(self) -> Via:
        return Via("UDP", self.addr[0], self.addr[1], {"rport": None})


def _pump(a: _UA, b: _UA, now: float) -> None:
    for _ in range(5):
        for src, dst in ((a, b), (b, a)):
            for out in src.tx.datagrams_to_send():
                dst.tx.receive(parse_message(out.data), src.addr, now)


def test_full_call_between_two_in_memory_uas() -> None:
    alice, bob = _UA(ALICE), _UA(BOB)
    req = Request(
        "INVITE",
        "sip:bob@192.0.2.2",
        [
            ("Via", alice.via()),
            ("Max-Forwards", 70),
            ("From", "<sip:alice@example.com>;tag=at"),
            ("To", "<sip:bob@example.com>"),
            ("Call-ID", "full-1"),
            ("CSeq", "1 INVITE"),
            ("Contact", "<sip:alice@192.0.2.1>"),
        ],
        body=b"v=0\r\n",
    )
    alice.tx.send_request(req, BOB, 0.0)
    sent_invite = req
    _pump(alice, bob, 0.0)
    (incoming,) = [e for e in iter(bob.tx.next_event, None) if isinstance(e, RequestReceived)]
    ringing = make_response(
        incoming.request, 180, to_tag="bt", headers=[("Contact", "<sip:bob@192.0.2.2>")]
    )
    bob.dialogs.uas_response(incoming.request, ringing)
    bob.tx.send_response(ringing, 0.1)
    ok = make_response(
        incoming.request, 200, to_tag="bt", headers=[("Contact", "<sip:bob@192.0.2.2>")]
    )
    bob_dialog = bob.dialogs.uas_response(incoming.request, ok)
    bob.tx.send_response(ok, 1.0)
    _pump(alice, bob, 1.0)
    statuses = []
    alice_dialog = None
    for ev in iter(alice.tx.next_event, None):
        assert isinstance(ev, ResponseReceived)
        statuses.append(ev.response.status)
        alice_dialog = alice.dialogs.uac_response(sent_invite, ev.response)
    assert statuses == [100, 180, 200]
    assert alice_dialog is not None
    assert bob_dialog is not None
    assert alice_dialog.state is DialogState.CONFIRMED
    assert bob_dialog.state is DialogState.CONFIRMED
    ack = alice_dialog.create_ack(Via("UDP", "192.0.2.1", 5060, {"branch": alice.tx.new_branch()}))
    alice.tx.send_stateless(ack, BOB)
    _pump(alice, bob, 1.1)
    acks = [e for e in iter(bob.tx.next_event, None) if isinstance(e, AckReceived)]
    assert len(acks) == 1
    assert bob.dialogs.route_request(acks[0].request) is bob_dialog
    # Bob hangs up.
    bye = bob_dialog.create_request("BYE", bob.via())
    bob.tx.send_request(bye, ALICE, 5.0)
    _pump(alice, bob, 5.0)
    (bye_in,) = [e for e in iter(alice.tx.next_event, None) if isinstance(e, RequestReceived)]
    assert alice.dialogs.route_request(bye_in.request) is alice_dialog
    assert alice_dialog.terminated
    alice.tx.send_response(make_response(bye_in.request, 200), 5.0)
    _pump(alice, bob, 5.0)
    (bye_ok,) = [e for e in iter(bob.tx.next_event, None) if isinstance(e, ResponseReceived)]
    assert bye_ok.response.status == 200
    assert bob_dialog.terminated
    assert alice.dialogs.purge_terminated() == 1
    assert bob.dialogs.purge_terminated() == 1
    # After the timers run out nothing is left on either side.
    for ua in (alice, bob):
        while (t := ua.tx.get_timer()) is not None:
            ua.tx.handle_timer(t)
        ua.tx.datagrams_to_send()
        assert len(ua.tx) == 0
