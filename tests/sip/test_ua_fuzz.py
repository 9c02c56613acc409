"""The UserAgent never raises on hostile input: RFC 4475 messages and random mutations of
them and of a real call's own messages go through ``UserAgent.receive`` on a fake clock."""

from __future__ import annotations

import itertools
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ata.sip.sdp import AudioConfig
from ata.sip.ua import UaConfig, UserAgent
from tests.sip.test_fuzz import SEEDS, mutated

PEER = ("192.0.2.9", 5060)


def _ua() -> UserAgent:
    cfg = UaConfig(
        user="user",
        domain="example.com",
        local_host="192.0.2.1",
        outbound_proxy=PEER,
        check_request_uri=False,
        audio=AudioConfig(address="192.0.2.1", port=4000),
    )
    counter = itertools.count(1)
    return UserAgent(cfg, new_id=lambda: f"id{next(counter):04d}", rand=lambda: 0.5)


def _drain(ua: UserAgent, now: float) -> None:
    ua.datagrams_to_send()
    while (ev := ua.next_event()) is not None:
        handle = getattr(ev, "handle", None)
        if handle is not None and handle.startswith("in-"):
            ua.answer(handle, now)


def test_every_torture_message_is_survived() -> None:
    ua = _ua()
    for i, seed in enumerate(SEEDS):
        ua.receive(seed, PEER, float(i))
        _drain(ua, float(i))
    ua.handle_timer(1000.0)
    _drain(ua, 1000.0)
    assert ua.stats["parse_errors"] >= 10


@settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.lists(mutated(), min_size=1, max_size=6), st.floats(0.0, 40.0))
def test_mutated_sequences_never_raise(datagrams: list[bytes], step: float) -> None:
    ua = _ua()
    ua.place_call("out", "123", 0.0)
    now = 0.0
    for data in datagrams:
        ua.receive(data, PEER, now)
        _drain(ua, now)
        now += step
        ua.handle_timer(now)
        _drain(ua, now)
    ua.hang_up("out", now)
    ua.handle_timer(now + 400.0)
    _drain(ua, now + 400.0)
    ua.handle_timer(now + 800.0)
    _drain(ua, now + 800.0)
    assert len(ua.tx) == 0


def test_seed_files_exist() -> None:
    assert len(SEEDS) == 49
    assert Path(__file__).with_name("data").is_dir()


_SDP = (
    b"v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n"
    b"m=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)
_action = st.one_of(
    st.tuples(
        st.just("resp"),
        st.sampled_from([100, 180, 183, 200, 401, 407, 486, 491, 500]),
        st.booleans(),  # with SDP
        st.sampled_from(["t1", "t2"]),  # To tag (forking)
        st.integers(0, 3),  # byte flips
        st.integers(0, 2**32 - 1),
    ),
    st.tuples(st.sampled_from(["hangup", "hold", "resume", "tick"]), st.floats(0.0, 10.0)),
    st.tuples(
        st.just("req"),
        st.sampled_from(["BYE", "INVITE", "UPDATE", "INFO", "OPTIONS", "CANCEL", "ACK"]),
        st.booleans(),
        st.integers(0, 2**32 - 1),
    ),
)


@settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.lists(_action, max_size=12))
def test_call_state_machine_under_random_peer_behaviour(actions: list[tuple]) -> None:  # type: ignore[type-arg]
    import random

    from ata.sip.message import Request, make_response
    from ata.sip.parser import parse_message

    ua = _ua()
    ua.place_call("out", "123", 0.0)
    (sent,) = ua.datagrams_to_send()
    invite = parse_message(sent.data)
    assert isinstance(invite, Request)
    now = 0.0
    for action in actions:
        kind = action[0]
        if kind == "resp":
            _, status, with_sdp, tag, flips, seed = action
            headers = [("Contact", "<sip:peer@192.0.2.9>")]
            body = b""
            if with_sdp:
                headers.append(("Content-Type", "application/sdp"))
                body = _SDP
            if status in (401, 407):
                name = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
                headers.append((name, 'Digest realm="r", nonce="n", qop="auth"'))
            data = bytearray(
                make_response(invite, status, to_tag=tag, headers=headers, body=body).to_bytes()
            )
            rng = random.Random(seed)
            for _ in range(flips):
                data[rng.randrange(len(data))] = rng.randrange(256)
            ua.receive(bytes(data), PEER, now)
        elif kind == "req":
            _, method, in_dialog, seed = action
            to = "<sip:user@example.com>" + (";tag=" + invite.from_.tag if in_dialog else "")  # type: ignore[operator]
            req = Request(
                method,
                "sip:user@192.0.2.1",
                [
                    ("Via", f"SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK{seed}"),
                    ("From", "<sip:123@example.com>;tag=t1"),
                    ("To", to),
                    ("Call-ID", invite.call_id),
                    ("CSeq", f"{seed % 1000 + 1} {method}"),
                ],
            )
            ua.receive(req.to_bytes(), PEER, now)
        elif kind == "hangup":
            ua.hang_up("out", now)
        elif kind in ("hold", "resume"):
            getattr(ua, kind)("out", now)
        else:
            now += action[1]
            ua.handle_timer(now)
        _drain(ua, now)
    for handle in list(ua.calls):
        ua.hang_up(handle, now)
    for extra in (400.0, 800.0):
        ua.handle_timer(now + extra)
        _drain(ua, now + extra)
    assert len(ua.tx) == 0
    assert ua.calls == {}
