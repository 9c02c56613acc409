"""Embedded registrar/proxy core, driven by pi-ata's own registration client and raw requests."""

from __future__ import annotations

import random

import pytest

from ata.sip.digest import DigestClient, parse_challenges, select_challenge
from ata.sip.message import Request, Response, make_response
from ata.sip.parser import parse_message
from ata.sip.registrar import Flow, Forward, RegistrarConfig, RegistrarCore, Reply
from ata.sip.registration import Registration, RegistrationConfig, RegState
from ata.sip.uri import SipURI, parse_uri

USERS = {"alice": "alice-pw", "bob": "bob-pw"}
ME = ("10.0.0.1", 5060)
ALICE_FLOW = Flow("udp", ("10.0.0.20", 5062))
BOB_FLOW = Flow("tcp", ("10.0.0.30", 40123), connection=7)


def core(**kw: object) -> RegistrarCore:
    kw.setdefault("algorithms", ("SHA-256", "MD5"))
    cfg = RegistrarConfig(
        domain="pi.lan",
        users=USERS,
        secret=b"s" * 32,
        local={"udp": ME, "tcp": ME},
        min_expires=30,
        **kw,  # type: ignore[arg-type]
    )
    return RegistrarCore(cfg)


def sip(text: str) -> SipURI:
    uri = parse_uri(text)
    assert isinstance(uri, SipURI)
    return uri


def wire(message: Request | Response) -> Request | Response:
    return parse_message(message.to_bytes())


def client(
    user: str,
    flow: Flow,
    password: str | None = None,
    local: tuple[str, int] | None = None,
    **kw: object,
) -> Registration:
    cfg = RegistrationConfig(
        aor=sip(f"sip:{user}@pi.lan"),
        password=USERS[user] if password is None else password,
        registrar=sip("sip:pi.lan"),
        nat_learning=False,
        **kw,  # type: ignore[arg-type]
    )
    return Registration(cfg, local or flow.address, flow.transport, rng=random.Random(1))


def run(reg: Registration, registrar: RegistrarCore, flow: Flow, now: float) -> list[Response]:
    answers = []
    for _ in range(10):
        batch = reg.requests_to_send()
        if not batch:
            break
        for request in batch:
            actions = registrar.handle(wire(request), flow, now)
            for action in actions:
                assert isinstance(action, Reply)
                assert action.flow == flow
                answers.append(action.response)
                reg.receive_response(wire(action.response), now)  # type: ignore[arg-type]
    return answers


def registered_pair() -> RegistrarCore:
    registrar = core()
    for user, flow, local in (
        ("alice", ALICE_FLOW, None),
        ("bob", BOB_FLOW, ("10.0.0.30", 5070)),  # TCP: Contact has the listening port
    ):
        reg = client(user, flow, local=local)
        reg.start(0.0)
        run(reg, registrar, flow, 0.0)
        assert reg.state is RegState.REGISTERED
    return registrar


def test_register_query_unregister_with_our_client() -> None:
    registrar = core()
    reg = client("alice", ALICE_FLOW, expires=120)
    reg.start(0.0)
    answers = run(reg, registrar, ALICE_FLOW, 0.0)
    assert [a.status for a in answers] == [401, 200]
    challenges = answers[0].headers.get_all("WWW-Authenticate")
    assert [c.split("algorithm=")[1].split(",")[0] for c in challenges] == ["SHA-256", "MD5"]
    assert reg.state is RegState.REGISTERED
    assert reg.granted == 120
    (binding,) = registrar.location.lookup("alice", 1.0)
    assert str(binding.uri) == "sip:alice@10.0.0.20:5062"
    assert binding.flow == ALICE_FLOW
    reg.query(1.0)
    (answer,) = run(reg, registrar, ALICE_FLOW, 1.0)
    assert [str(c.uri) for c in answer.contacts] == ["sip:alice@10.0.0.20:5062"]
    assert answer.contacts[0].expires == 119
    reg.stop(2.0)
    run(reg, registrar, ALICE_FLOW, 2.0)
    assert reg.state is RegState.STOPPED
    assert registrar.location.lookup("alice", 3.0) == []


def test_wrong_password_and_foreign_aor() -> None:
    registrar = core()
    reg = client("alice", ALICE_FLOW, password="guess")
    reg.start(0.0)
    run(reg, registrar, ALICE_FLOW, 0.0)
    assert reg.state is RegState.AUTH_FAILED
    assert reg.status == 401
    assert registrar.stats["auth_failures"] == 1
    # bob's credentials may not register alice's AOR
    thief = Registration(
        RegistrationConfig(
            aor=sip("sip:alice@pi.lan"), password="bob-pw", auth_username="bob", nat_learning=False
        ),
        BOB_FLOW.address,
        "tcp",
    )
    thief.start(0.0)
    run(thief, registrar, BOB_FLOW, 0.0)
    assert thief.state is RegState.FAILED
    assert thief.status == 403
    assert registrar.location.lookup("alice", 1.0) == []


def test_unknown_user_and_interval_too_brief() -> None:
    registrar = core()
    stranger = Registration(
        RegistrationConfig(aor=sip("sip:mallory@pi.lan"), password="x", nat_learning=False),
        ("10.0.0.66", 5060),
    )
    stranger.start(0.0)
    (answer,) = run(stranger, registrar, Flow("udp", ("10.0.0.66", 5060)), 0.0)
    assert answer.status == 404
    short = client("alice", ALICE_FLOW, expires=10)
    short.start(0.0)
    answers = run(short, registrar, ALICE_FLOW, 0.0)
    assert [a.status for a in answers] == [401, 423, 200]
    assert answers[1].headers.get("Min-Expires") == "30"
    assert short.granted == 30


def test_bindings_expire_and_register_retransmission_is_answered_the_same() -> None:
    registrar = core()
    reg = client("alice", ALICE_FLOW, expires=60)
    reg.start(0.0)
    (first,) = reg.requests_to_send()
    one = registrar.handle(wire(first), ALICE_FLOW, 0.0)
    two = registrar.handle(wire(first), ALICE_FLOW, 0.1)
    assert isinstance(one[0], Reply)
    assert isinstance(two[0], Reply)
    assert one[0].response.to_bytes() == two[0].response.to_bytes()
    reg.receive_response(wire(one[0].response), 0.1)  # type: ignore[arg-type]
    run(reg, registrar, ALICE_FLOW, 0.2)
    assert registrar.get_timer() == pytest.approx(60.2)
    registrar.handle_timer(61.0)
    assert registrar.location.users() == []
    assert registrar.get_timer() is None


def invite(
    to_user: str = "bob", *, tag: str | None = None, extra: str = "", mf: int = 70
) -> Request:
    to_tag = f";tag={tag}" if tag else ""
    text = (
        f"INVITE sip:{to_user}@pi.lan SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 10.0.0.20:5062;branch=z9hG4bK-inv1;rport\r\n"
        f"Max-Forwards: {mf}\r\n"
        "From: <sip:alice@pi.lan>;tag=a1\r\n"
        f"To: <sip:{to_user}@pi.lan>{to_tag}\r\n"
        "Call-ID: call-1\r\n"
        "CSeq: 1 INVITE\r\n"
        "Contact: <sip:alice@10.0.0.20:5062>\r\n"
        f"{extra}"
        "Content-Type: application/sdp\r\n"
        "Content-Length: 4\r\n\r\nv=0\n"
    )
    request = parse_message(text.encode())
    assert isinstance(request, Request)
    return request


def authorized_invite(registrar: RegistrarCore, to_user: str = "bob") -> Request:
    (challenge_action,) = registrar.handle(invite(to_user), ALICE_FLOW, 1.0)
    assert isinstance(challenge_action, Reply)
    assert challenge_action.response.status == 407
    chosen = select_challenge(
        parse_challenges(
            challenge_action.response.headers.get_all("Proxy-Authenticate"), proxy=True
        )
    )
    assert chosen is not None
    request = invite(to_user)
    name, value = DigestClient("alice", "alice-pw").authorize(chosen, "INVITE", str(request.uri))
    request.headers.add(name, value)
    return request


def test_invite_is_authenticated_routed_and_record_routed() -> None:
    registrar = registered_pair()
    (action,) = registrar.handle(authorized_invite(registrar), ALICE_FLOW, 1.0)
    assert isinstance(action, Forward)
    out = action.message
    assert isinstance(out, Request)
    assert str(out.uri) == "sip:bob@10.0.0.30:5070;transport=tcp"
    assert action.flow == BOB_FLOW
    # over TCP the registered flow is reused; the Contact is the fallback if it is gone
    assert (action.host, action.port, action.transport) == ("10.0.0.30", 5070, "tcp")
    assert out.max_forwards == 69
    assert "Proxy-Authorization" not in out.headers
    rr = out.headers.get_all("Record-Route")
    assert rr == ["<sip:10.0.0.1:5060;transport=tcp;lr>", "<sip:10.0.0.1:5060;lr>"]
    vias = out.vias
    assert len(vias) == 2
    assert vias[0].transport == "TCP"
    assert vias[0].host == "10.0.0.1"
    assert out.body == b"v=0\n"
    # a retransmission gets the same branch (stateless proxy), and so does the CANCEL
    (again,) = registrar.handle(authorized_invite(registrar), ALICE_FLOW, 1.5)
    assert isinstance(again, Forward)
    assert again.message.top_via.branch == vias[0].branch
    reparsed = wire(out)
    assert isinstance(reparsed, Request)

    # bob answers: the response loses our Via and goes to alice's rport address
    ok = make_response(
        reparsed, 200, to_tag="b1", headers=[("Contact", "<sip:bob@10.0.0.30:40123;transport=tcp>")]
    )
    (back,) = registrar.handle(wire(ok), BOB_FLOW, 2.0)
    assert isinstance(back, Forward)
    assert (back.host, back.port, back.transport) == ("10.0.0.20", 5062, "udp")
    assert len(back.message.vias) == 1
    assert back.message.headers.get_all("Record-Route") == rr


def test_in_dialog_request_pops_our_route() -> None:
    registrar = registered_pair()
    bye = parse_message(
        b"BYE sip:bob@10.0.0.30:40123;transport=tcp SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 10.0.0.20:5062;branch=z9hG4bK-bye1\r\n"
        b"Max-Forwards: 70\r\n"
        b"Route: <sip:10.0.0.1:5060;lr>, <sip:10.0.0.1:5060;transport=tcp;lr>\r\n"
        b"From: <sip:alice@pi.lan>;tag=a1\r\nTo: <sip:bob@pi.lan>;tag=b1\r\n"
        b"Call-ID: call-1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    )
    assert isinstance(bye, Request)
    (action,) = registrar.handle(bye, ALICE_FLOW, 3.0)
    assert isinstance(action, Forward)
    assert "Route" not in action.message.headers
    assert (action.host, action.port, action.transport) == ("10.0.0.30", 40123, "tcp")


def test_not_found_unavailable_relay_and_hops() -> None:
    registrar = core()
    reg = client("alice", ALICE_FLOW)
    reg.start(0.0)
    run(reg, registrar, ALICE_FLOW, 0.0)
    (nobody,) = registrar.handle(authorized_invite(registrar, "zed"), ALICE_FLOW, 1.0)
    assert isinstance(nobody, Reply)
    assert nobody.response.status == 404
    (away,) = registrar.handle(authorized_invite(registrar, "bob"), ALICE_FLOW, 1.0)
    assert isinstance(away, Reply)
    assert away.response.status == 480
    # unauthenticated stranger towards another domain: no open relay
    relay = parse_message(
        b"INVITE sip:someone@elsewhere.example SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 198.51.100.9:5060;branch=z9hG4bK-x\r\nMax-Forwards: 70\r\n"
        b"From: <sip:scanner@198.51.100.9>;tag=z\r\nTo: <sip:someone@elsewhere.example>\r\n"
        b"Call-ID: scan\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    )
    assert isinstance(relay, Request)
    (denied,) = registrar.handle(relay, Flow("udp", ("198.51.100.9", 5060)), 1.0)
    assert isinstance(denied, Reply)
    assert denied.response.status == 403
    (hops,) = registrar.handle(invite(mf=0), ALICE_FLOW, 1.0)
    assert isinstance(hops, Reply)
    assert hops.response.status == 483


def test_options_to_the_server_and_junk() -> None:
    registrar = core()
    options = parse_message(
        b"OPTIONS sip:10.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.20:5062;branch=z9hG4bK-o\r\n"
        b"From: <sip:alice@pi.lan>;tag=1\r\nTo: <sip:10.0.0.1>\r\nCall-ID: o\r\n"
        b"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    assert isinstance(options, Request)
    (answer,) = registrar.handle(options, ALICE_FLOW, 0.0)
    assert isinstance(answer, Reply)
    assert answer.response.status == 200
    # a response that is not for us is dropped
    stray = parse_message(
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.20:5062;branch=z9hG4bK-o\r\n"
        b"From: <sip:a@pi.lan>;tag=1\r\nTo: <sip:b@pi.lan>\r\nCall-ID: o\r\nCSeq: 1 OPTIONS\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    assert registrar.handle(stray, ALICE_FLOW, 0.0) == []
    # a request whose CSeq cannot be read is answered 400, not raised
    broken = Request(
        "INVITE",
        "sip:bob@pi.lan",
        [
            ("Via", "SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK-q"),
            ("From", "<sip:x@y>;tag=1"),
            ("To", "<sip:bob@pi.lan>"),
            ("Call-ID", "q"),
            ("CSeq", "oops"),
        ],
    )
    (bad,) = registrar.handle(broken, ALICE_FLOW, 0.0)
    assert isinstance(bad, Reply)
    assert bad.response.status == 400
