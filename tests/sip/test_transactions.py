"""RFC 3261 §17 transactions on a fake clock: retransmission schedules, absorption, timers
A–M, CANCEL, RFC 2543 matching, caps and state reclamation."""

from __future__ import annotations

import contextlib
import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ata.sip.errors import SipParseError
from ata.sip.message import Request, Response, make_response
from ata.sip.parser import parse_message
from ata.sip.timers import TimerConfig
from ata.sip.transaction import Outgoing, TxState
from ata.sip.transaction_layer import (
    AckReceived,
    AckTimeout,
    CancelReceived,
    Event,
    RequestReceived,
    ResponseReceived,
    ServerGaveUp,
    StrayResponse,
    TransactionLayer,
    TransactionLimitError,
    TransactionTimeout,
    TransportFailed,
    server_key,
)

PEER = ("192.0.2.9", 5060)
ME = ("192.0.2.1", 5060)


def request(
    method: str, branch: str | None = "z9hG4bKabc", cseq: int = 1, call_id: str = "c1"
) -> Request:
    via = "SIP/2.0/UDP 192.0.2.9:5060" + (f";branch={branch}" if branch is not None else "")
    return Request(
        method,
        "sip:alice@192.0.2.1",
        [
            ("Via", via),
            ("From", "<sip:bob@example.com>;tag=f1"),
            ("To", "<sip:alice@example.com>"),
            ("Call-ID", call_id),
            ("CSeq", f"{cseq} {method}"),
            ("Max-Forwards", "70"),
        ],
    )


def wire(msg: Request | Response) -> Request | Response:
    """Through bytes and back, as the network would deliver it."""
    return parse_message(msg.to_bytes())


def events(layer: TransactionLayer) -> list[Event]:
    out: list[Event] = []
    while (ev := layer.next_event()) is not None:
        out.append(ev)
    return out


def run_until(
    layer: TransactionLayer, end: float, now: float = 0.0
) -> list[tuple[float, Outgoing]]:
    """Advance the fake clock timer by timer up to ``end``; return what was sent when."""
    sent: list[tuple[float, Outgoing]] = []
    while (deadline := layer.get_timer()) is not None and deadline <= end:
        now = max(now, deadline)
        layer.handle_timer(now)
        sent.extend((now, o) for o in layer.datagrams_to_send())
    return sent


def test_invite_client_retransmits_with_doubling_and_times_out_at_32s() -> None:
    layer = TransactionLayer()
    key = layer.send_request(request("INVITE"), PEER, 0.0)
    first = layer.datagrams_to_send()
    assert len(first) == 1
    assert first[0].addr == PEER
    sent = run_until(layer, 100.0)
    times = [t for t, _ in sent]
    assert times == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert [b - a for a, b in itertools.pairwise([0.0, *times])] == [0.5, 1, 2, 4, 8, 16]
    assert all(o.data == first[0].data for _, o in sent)
    (ev,) = events(layer)
    assert isinstance(ev, TransactionTimeout)
    assert ev.key == key
    assert len(layer) == 0
    assert layer.get_timer() is None


def test_non_invite_client_retransmissions_cap_at_t2() -> None:
    layer = TransactionLayer()
    layer.send_request(request("OPTIONS"), PEER, 0.0)
    layer.datagrams_to_send()
    sent = run_until(layer, 100.0)
    intervals = [b - a for a, b in itertools.pairwise([0.0, *(t for t, _ in sent)])]
    assert intervals[:4] == [0.5, 1.0, 2.0, 4.0]
    assert set(intervals[4:]) == {4.0}
    assert sum(intervals) < 32.0
    (ev,) = events(layer)
    assert isinstance(ev, TransactionTimeout)
    assert len(layer) == 0


def test_non_invite_client_proceeding_uses_t2_then_completes_and_k_cleans_up() -> None:
    layer = TransactionLayer()
    req = request("OPTIONS")
    key = layer.send_request(req, PEER, 0.0)
    layer.datagrams_to_send()
    layer.receive(wire(make_response(req, 100)), PEER, 0.2)
    sent = run_until(layer, 9.0, 0.2)
    assert [t for t, _ in sent] == pytest.approx([4.2, 8.2])
    layer.receive(wire(make_response(req, 200, to_tag="t")), PEER, 9.0)
    evs = events(layer)
    assert [type(e) for e in evs] == [ResponseReceived, ResponseReceived]
    assert [e.response.status for e in evs if isinstance(e, ResponseReceived)] == [100, 200]
    tx = layer.transaction(key)
    assert tx is not None
    assert tx.state is TxState.COMPLETED
    layer.receive(wire(make_response(req, 200, to_tag="t")), PEER, 10.0)  # absorbed
    assert events(layer) == []
    assert run_until(layer, 13.9, 10.0) == []
    assert len(layer) == 1
    run_until(layer, 14.0, 10.0)  # Timer K = T4 = 5 s after 9.0
    assert len(layer) == 0


def test_invite_client_failure_acks_and_timer_d() -> None:
    layer = TransactionLayer()
    req = request("INVITE")
    key = layer.send_request(req, PEER, 0.0)
    layer.datagrams_to_send()
    layer.receive(wire(make_response(req, 180, to_tag="x")), PEER, 0.1)
    assert run_until(layer, 5.0, 0.1) == []  # no retransmission in PROCEEDING
    busy = wire(make_response(req, 486, to_tag="x"))
    layer.receive(busy, PEER, 5.0)
    (ack_out,) = layer.datagrams_to_send()
    ack = parse_message(ack_out.data)
    assert isinstance(ack, Request)
    assert ack.method == "ACK"
    assert ack.top_via.branch == req.top_via.branch
    assert ack.to.tag == "x"
    assert ack.cseq.seq == req.cseq.seq
    assert [e.response.status for e in events(layer) if isinstance(e, ResponseReceived)] == [
        180,
        486,
    ]
    layer.receive(busy, PEER, 6.0)  # retransmitted final: ACK again, not to the TU
    assert [o.data for o in layer.datagrams_to_send()] == [ack_out.data]
    assert events(layer) == []
    run_until(layer, 36.9, 6.0)
    assert layer.transaction(key) is not None
    run_until(layer, 37.0, 6.0)  # Timer D 32 s after 5.0
    assert len(layer) == 0


def test_invite_client_accepted_passes_2xx_retransmissions_then_timer_m() -> None:
    layer = TransactionLayer()
    req = request("INVITE")
    layer.send_request(req, PEER, 0.0)
    layer.datagrams_to_send()
    ok = wire(make_response(req, 200, to_tag="y"))
    layer.receive(ok, PEER, 1.0)
    layer.receive(ok, PEER, 1.5)
    statuses = [e.response.status for e in events(layer) if isinstance(e, ResponseReceived)]
    assert statuses == [200, 200]
    assert layer.datagrams_to_send() == []  # the TU, not the transaction, ACKs a 2xx
    run_until(layer, 33.0, 1.5)  # M = 64*T1 after 1.0
    assert len(layer) == 0
    layer.receive(ok, PEER, 40.0)
    (ev,) = events(layer)
    assert isinstance(ev, StrayResponse)


def test_non_invite_server_absorbs_and_resends_last_response() -> None:
    layer = TransactionLayer()
    req = request("OPTIONS")
    layer.receive(wire(req), PEER, 0.0)
    (ev,) = events(layer)
    assert isinstance(ev, RequestReceived)
    layer.receive(wire(req), PEER, 0.4)  # retransmission before the TU answers: absorbed
    assert events(layer) == []
    assert layer.datagrams_to_send() == []
    layer.send_response(make_response(ev.request, 200, to_tag="z"), 0.5)
    (out,) = layer.datagrams_to_send()
    assert parse_message(out.data).status == 200  # type: ignore[union-attr]
    assert out.addr == PEER
    layer.receive(wire(req), PEER, 1.0)
    assert [o.data for o in layer.datagrams_to_send()] == [out.data]
    assert events(layer) == []
    run_until(layer, 32.4, 1.0)
    assert len(layer) == 1
    run_until(layer, 32.5, 1.0)  # Timer J = 64*T1 after 0.5
    assert len(layer) == 0


def test_invite_server_failure_g_retransmits_until_ack_then_timer_i() -> None:
    layer = TransactionLayer()
    req = request("INVITE")
    layer.receive(wire(req), PEER, 0.0)
    (trying,) = layer.datagrams_to_send()
    assert parse_message(trying.data).status == 100  # type: ignore[union-attr]
    (ev,) = events(layer)
    assert isinstance(ev, RequestReceived)
    layer.receive(wire(req), PEER, 0.1)  # retransmitted INVITE: 100 again
    assert [o.data for o in layer.datagrams_to_send()] == [trying.data]
    layer.send_response(make_response(ev.request, 486, to_tag="u"), 1.0)
    layer.datagrams_to_send()
    sent = run_until(layer, 13.0, 1.0)
    assert [t for t, _ in sent] == pytest.approx([1.5, 2.5, 4.5, 8.5, 12.5])  # G capped at T2
    ack = Request(
        "ACK",
        req.uri,
        [
            ("Via", req.headers.get("Via")),
            ("From", req.headers.get("From")),
            ("To", "<sip:alice@example.com>;tag=u"),
            ("Call-ID", "c1"),
            ("CSeq", "1 ACK"),
        ],
    )
    layer.receive(wire(ack), PEER, 13.0)
    assert events(layer) == []  # ACK for a failure stays in the transaction
    assert run_until(layer, 17.9, 13.0) == []
    assert len(layer) == 1
    layer.receive(wire(ack), PEER, 14.0)  # absorbed in CONFIRMED
    assert layer.datagrams_to_send() == []
    run_until(layer, 18.0, 14.0)  # Timer I = T4 after 13.0
    assert len(layer) == 0


def test_invite_server_timer_h_gives_up_without_ack() -> None:
    layer = TransactionLayer()
    req = request("INVITE")
    layer.receive(wire(req), PEER, 0.0)
    (ev,) = events(layer)
    assert isinstance(ev, RequestReceived)
    layer.send_response(make_response(ev.request, 404, to_tag="u"), 0.0)
    run_until(layer, 40.0)
    (gone,) = events(layer)
    assert isinstance(gone, ServerGaveUp)
    assert len(layer) == 0


def test_uas_core_retransmits_2xx_until_ack() -> None:
    layer = TransactionLayer()
    req = request("INVITE")
    layer.receive(wire(req), PEER, 0.0)
    (ev,) = events(layer)
    assert isinstance(ev, RequestReceived)
    ok = make_response(ev.request, 200, to_tag="u")
    layer.send_response(ok, 0.0)
    outs = layer.datagrams_to_send()
    assert [parse_message(o.data).status for o in outs] == [100, 200]  # type: ignore[union-attr]
    sent = run_until(layer, 10.0)
    assert [t for t, _ in sent] == pytest.approx([0.5, 1.5, 3.5, 7.5])
    assert all(o.data == outs[1].data for _, o in sent)
    ack = Request(
        "ACK",
        req.uri,
        [
            ("Via", "SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKack1"),
            ("From", req.headers.get("From")),
            ("To", "<sip:alice@example.com>;tag=u"),
            ("Call-ID", "c1"),
            ("CSeq", "1 ACK"),
        ],
    )
    layer.receive(wire(ack), PEER, 10.0)
    (acked,) = events(layer)
    assert isinstance(acked, AckReceived)
    assert run_until(layer, 40.0, 10.0) == []
    assert events(layer) == []
    assert len(layer) == 0


def test_uas_2xx_never_acked_reports_ack_timeout() -> None:
    layer = TransactionLayer()
    layer.receive(wire(request("INVITE")), PEER, 0.0)
    (ev,) = events(layer)
    assert isinstance(ev, RequestReceived)
    layer.send_response(make_response(ev.request, 200, to_tag="u"), 0.0)
    layer.datagrams_to_send()
    sent = run_until(layer, 40.0)
    intervals = [b - a for a, b in itertools.pairwise([0.0, *(t for t, _ in sent)])]
    assert intervals[:4] == [0.5, 1.0, 2.0, 4.0]
    assert max(intervals) == 4.0
    (timeout,) = events(layer)
    assert isinstance(timeout, AckTimeout)
    assert timeout.response.status == 200
    assert len(layer) == 0


def test_cancel_matches_pending_invite() -> None:
    layer = TransactionLayer()
    req = request("INVITE")
    layer.receive(wire(req), PEER, 0.0)
    (ev,) = events(layer)
    assert isinstance(ev, RequestReceived)
    layer.send_response(make_response(ev.request, 180, to_tag="r"), 0.1)
    layer.datagrams_to_send()
    cancel = request("CANCEL")
    layer.receive(wire(cancel), PEER, 1.0)
    (out,) = layer.datagrams_to_send()
    answer = parse_message(out.data)
    assert isinstance(answer, Response)
    assert answer.status == 200
    assert answer.cseq.method == "CANCEL"
    assert answer.to.tag == "r"
    (cev,) = events(layer)
    assert isinstance(cev, CancelReceived)
    assert cev.invite_key == ev.key
    layer.send_response(make_response(cev.invite, 487, to_tag="r"), 1.0)
    (terminated,) = layer.datagrams_to_send()
    assert parse_message(terminated.data).status == 487  # type: ignore[union-attr]


def test_cancel_without_invite_gets_481() -> None:
    layer = TransactionLayer()
    layer.receive(wire(request("CANCEL", branch="z9hG4bKnone")), PEER, 0.0)
    (out,) = layer.datagrams_to_send()
    assert parse_message(out.data).status == 481  # type: ignore[union-attr]
    assert events(layer) == []
    assert layer.stats["cancel_481"] == 1


@pytest.mark.parametrize("branch", [None, "z9hG4bK", "1234"])
def test_rfc2543_requests_match_by_old_rules(branch: str | None) -> None:
    layer = TransactionLayer()
    req = request("INVITE", branch=branch)
    assert server_key(wire(req))[0] == "s2543"  # type: ignore[arg-type]
    layer.receive(wire(req), PEER, 0.0)
    (ev,) = events(layer)
    assert isinstance(ev, RequestReceived)
    layer.receive(wire(req), PEER, 0.3)  # retransmission matched, 100 resent
    assert events(layer) == []
    assert len(layer.datagrams_to_send()) == 2
    layer.send_response(make_response(ev.request, 480, to_tag="q"), 1.0)
    assert parse_message(layer.datagrams_to_send()[0].data).status == 480  # type: ignore[union-attr]
    other = request("INVITE", branch=branch, cseq=2)
    layer.receive(wire(other), PEER, 1.1)
    assert isinstance(events(layer)[0], RequestReceived)


def test_rfc4475_badbranch_and_inv2543_never_break() -> None:
    data = Path(__file__).parent / "data" / "rfc4475"
    layer = TransactionLayer()
    for name in ("TC_BADBRANCH_V", "TC_INV2543_I"):
        msg = parse_message((data / f"{name}.dat").read_bytes())
        layer.receive(msg, PEER, 0.0)
        layer.receive(msg, PEER, 0.1)
    received = [e for e in events(layer) if isinstance(e, RequestReceived)]
    assert [r.request.method for r in received] == ["OPTIONS", "INVITE"]


def test_request_missing_matching_headers_raises_typed_error() -> None:
    layer = TransactionLayer()
    broken = Request("OPTIONS", "sip:a@b", [("From", "<sip:x@y>;tag=1"), ("CSeq", "1 OPTIONS")])
    with pytest.raises(SipParseError):
        layer.receive(broken, PEER, 0.0)
    assert len(layer) == 0


def test_transport_error_is_an_event() -> None:
    layer = TransactionLayer()
    key = layer.send_request(request("INVITE"), PEER, 0.0, transport="tcp")
    layer.transport_error(key, 0.1)
    (ev,) = events(layer)
    assert isinstance(ev, TransportFailed)
    assert len(layer) == 0


def test_reliable_transport_has_no_retransmissions_and_zero_wait_timers() -> None:
    layer = TransactionLayer()
    req = request("OPTIONS")
    layer.send_request(req, PEER, 0.0, transport="tcp")
    layer.datagrams_to_send()
    layer.receive(wire(make_response(req, 200, to_tag="t")), PEER, 1.0)
    assert layer.get_timer() == 1.0  # K = 0 on TCP
    assert run_until(layer, 1.0, 1.0) == []
    assert len(layer) == 0
    layer.send_request(request("INVITE", branch="z9hG4bKtcp"), PEER, 2.0, transport="tcp")
    layer.datagrams_to_send()
    assert run_until(layer, 34.0, 2.0) == []  # no timer A, B at 2 + 32 s
    (ev,) = [e for e in events(layer) if isinstance(e, TransactionTimeout)]
    assert ev.request.method == "INVITE"


def test_missing_branch_is_added_on_send() -> None:
    layer = TransactionLayer(new_id=lambda: "fixed")
    key = layer.send_request(request("OPTIONS", branch=None), PEER, 0.0)
    (out,) = layer.datagrams_to_send()
    sent = parse_message(out.data)
    assert sent.top_via.branch == "z9hG4bKfixed"
    assert key == ("c", "z9hG4bKfixed", "OPTIONS")


def test_custom_t1_scales_everything() -> None:
    layer = TransactionLayer(timers=TimerConfig(t1=0.1, t2=0.4, t4=1.0))
    layer.send_request(request("INVITE"), PEER, 0.0)
    layer.datagrams_to_send()
    sent = run_until(layer, 100.0)
    assert [round(t, 6) for t, _ in sent] == [0.1, 0.3, 0.7, 1.5, 3.1, 6.3]
    assert len(layer) == 0


def test_hard_cap_answers_503_and_state_is_reclaimed() -> None:
    layer = TransactionLayer(max_transactions=50)
    accepted = 0
    for i in range(200):
        layer.receive(wire(request("OPTIONS", branch=f"z9hG4bK{i}", call_id=f"c{i}")), PEER, 0.0)
    for ev in events(layer):
        assert isinstance(ev, RequestReceived)
        accepted += 1
        if accepted % 2:
            layer.send_response(make_response(ev.request, 200, to_tag="t"), 0.0)
    assert accepted == 50
    assert len(layer) == 50
    statuses = [parse_message(o.data).status for o in layer.datagrams_to_send()]  # type: ignore[union-attr]
    assert statuses.count(503) == 150
    assert statuses.count(200) == 25
    assert layer.stats["rejected_full"] == 150
    with pytest.raises(TransactionLimitError):
        layer.send_request(request("OPTIONS", branch="z9hG4bKmine"), PEER, 0.0)
    run_until(layer, 32.0 + 1.0)  # J (64*T1) for answered, guard for the ignored ones
    assert len(layer) == 0
    gave_up = [e for e in events(layer) if isinstance(e, ServerGaveUp)]
    assert len(gave_up) == 25
    assert layer.get_timer() is None


def test_paired_layers_complete_an_invite_over_a_lossy_link() -> None:
    uac, uas = TransactionLayer(), TransactionLayer()
    req = request("INVITE", branch="z9hG4bKpair")
    uac.send_request(req, PEER, 0.0)
    drops = itertools.cycle([True, True, False])  # lose two of every three datagrams
    now = 0.0
    got_final = False
    for _ in range(200):
        for src, dst, addr in ((uac, uas, ME), (uas, uac, PEER)):
            for out in src.datagrams_to_send():
                if not next(drops):
                    continue
                dst.receive(parse_message(out.data), addr, now)
        for ev in events(uas):
            if isinstance(ev, RequestReceived):
                uas.send_response(make_response(ev.request, 603, to_tag="d"), now)
        for ev in events(uac):
            if isinstance(ev, ResponseReceived) and ev.response.status == 603:
                got_final = True
        deadlines = [d for d in (uac.get_timer(), uas.get_timer()) if d is not None]
        if not deadlines:
            break
        now = max(now, min(deadlines))
        uac.handle_timer(now)
        uas.handle_timer(now)
    assert got_final
    assert len(uac) == 0
    assert len(uas) == 0


_inputs = st.lists(
    st.tuples(
        st.sampled_from(["resp", "retrans", "tu", "ack", "tick", "cancel", "tperr"]),
        st.sampled_from([100, 180, 200, 302, 486, 503]),
        st.floats(0.0, 5.0),
    ),
    max_size=25,
)


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(["INVITE", "OPTIONS"]), st.booleans(), _inputs)
def test_any_input_sequence_never_raises_and_state_is_reclaimed(
    method: str, client: bool, inputs: list[tuple[str, int, float]]
) -> None:
    layer = TransactionLayer()
    req = request(method)
    now = 0.0
    key = None
    if client:
        key = layer.send_request(req, PEER, now)
    else:
        layer.receive(wire(req), PEER, now)
        server_ev = events(layer)
        key = server_ev[0].key if server_ev else None  # type: ignore[union-attr]
    for kind, status, dt in inputs:
        now += dt
        if kind == "resp":
            layer.receive(wire(make_response(req, status, to_tag="t")), PEER, now)
        elif kind == "retrans":
            layer.receive(wire(req), PEER, now)
        elif kind == "tu" and not client:
            with contextlib.suppress(SipParseError):  # the transaction may have ended
                layer.send_response(make_response(req, status, to_tag="t"), now)
        elif kind == "ack":
            ack = request("ACK")
            layer.receive(wire(ack), PEER, now)
        elif kind == "cancel":
            layer.receive(wire(request("CANCEL")), PEER, now)
        elif kind == "tperr" and key is not None:
            layer.transport_error(key, now)
        run_until(layer, now, now)
        layer.datagrams_to_send()
        events(layer)
    run_until(layer, now + 400.0, now)
    assert len(layer) == 0
    assert layer.get_timer() is None


@pytest.mark.parametrize(("method", "status"), [("OPTIONS", 400), ("NEWMETHOD", 501)])
def test_request_whose_cseq_method_differs_can_be_answered(method: str, status: int) -> None:
    """RFC 4475 §3.1.2.17/18: the answer carries the CSeq's method, not the request's; it
    must still find the server transaction (found by the UDP robustness test)."""
    layer = TransactionLayer()
    req = request(method)
    req.headers.set("CSeq", "8 INVITE")
    layer.receive(wire(req), PEER, 0.0)
    (ev,) = events(layer)
    assert isinstance(ev, RequestReceived)
    layer.send_response(make_response(ev.request, status, to_tag="t"), 0.01)
    (out,) = layer.datagrams_to_send()
    answer = parse_message(out.data)
    assert isinstance(answer, Response)
    assert (answer.status, answer.cseq.method, out.addr) == (status, "INVITE", PEER)
    layer.receive(wire(req), PEER, 0.5)  # a retransmission gets the same answer again
    assert [o.data for o in layer.datagrams_to_send()] == [out.data]


def test_mismatched_cseq_answer_does_not_land_in_another_transaction() -> None:
    """RFC 4475 reuses a branch: an INVITE and an OPTIONS whose CSeq says INVITE. The
    OPTIONS's 400 belongs to the OPTIONS transaction, not to the INVITE's."""
    layer = TransactionLayer()
    other = ("192.0.2.77", 5070)
    invite = request("INVITE", cseq=1)
    layer.receive(wire(invite), other, 0.0)
    layer.datagrams_to_send()  # 100 Trying
    options = request("OPTIONS", cseq=8)
    options.headers.set("CSeq", "8 INVITE")
    layer.receive(wire(options), PEER, 0.1)
    received = [e for e in events(layer) if isinstance(e, RequestReceived)]
    assert [r.request.method for r in received] == ["INVITE", "OPTIONS"]
    layer.send_response(make_response(received[1].request, 400, to_tag="t"), 0.2)
    (out,) = layer.datagrams_to_send()
    assert out.addr == PEER
    assert parse_message(out.data).status == 400  # type: ignore[union-attr]


@pytest.mark.parametrize(("method", "late"), [("INVITE", 0.02), ("OPTIONS", 0.02)])
def test_late_timers_do_not_push_the_retransmission_schedule(method: str, late: float) -> None:
    """A driver whose timer fires ``late`` seconds after each deadline still retransmits on
    the absolute schedule (found by the sipp black-hole test: 1-8 ms drift per step)."""
    layer = TransactionLayer()
    layer.send_request(request(method), PEER, 0.0)
    layer.datagrams_to_send()
    deadlines: list[float] = []
    while (deadline := layer.get_timer()) is not None and deadline < 40.0:
        deadlines.append(deadline)
        layer.handle_timer(deadline + late)
        layer.datagrams_to_send()
    if method == "INVITE":
        assert deadlines == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5, 32.0]
    else:
        assert deadlines[:6] == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5]
        assert deadlines[-1] == 32.0  # Timer F
