"""Message model, parser, serializer, builder and stream framer."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ata.sip.errors import HeaderValueError, SipFramingError, SipParseError
from ata.sip.fields import Headers
from ata.sip.headers import (
    CSeq,
    NameAddr,
    Via,
    parse_challenge,
    parse_content_type,
    parse_name_addr,
    parse_via,
)
from ata.sip.message import Request, Response, error_response, make_cancel, make_response
from ata.sip.parser import StreamFramer, parse_message
from ata.sip.uri import AbsoluteURI, SipURI, escape_user, parse_uri, uri_equivalent

INVITE = (
    b"INVITE sip:alice@[2001:db8::10]:5070;transport=udp SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport\r\n"
    b"Via: SIP/2.0/TCP [2001:db8::1];branch=z9hG4bKx;received=2001:db8::9\r\n"
    b"Max-Forwards: 70\r\n"
    b'To: "Alice" <sip:alice@example.com>\r\n'
    b"f: Bob <sip:bob@example.com>;tag=1928301774\r\n"
    b"i: a84b4c76e66710@pc33.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"m: <sip:bob@192.0.2.1>;expires=60, <sip:bob@[2001:db8::1]:5062>;q=0.5\r\n"
    b"Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr>\r\n"
    b"Allow: INVITE, ACK,CANCEL , BYE\r\n"
    b"k: replaces, timer\r\n"
    b"c: application/sdp\r\n"
    b"l: 4\r\n"
    b"\r\n"
    b"v=0\r\nTRAILING"
)


def test_parse_typed_accessors() -> None:
    msg = parse_message(INVITE)
    assert isinstance(msg, Request)
    assert msg.method == "INVITE"
    assert isinstance(msg.uri, SipURI)
    assert msg.uri.host == "[2001:db8::10]"
    assert msg.uri.host_bare == "2001:db8::10"
    assert msg.uri.port == 5070
    assert msg.uri.transport == "udp"
    top = msg.top_via
    assert (top.transport, top.host, top.port) == ("UDP", "192.0.2.1", 5060)
    assert top.branch == "z9hG4bK776asdhds"
    assert top.has_rport
    assert top.rport is None
    assert msg.vias[1].host == "[2001:db8::1]"
    assert msg.vias[1].received == "2001:db8::9"
    assert msg.to.display_name == "Alice"
    assert msg.to.tag is None
    assert msg.from_.display_name == "Bob"
    assert msg.from_.tag == "1928301774"
    assert msg.call_id == "a84b4c76e66710@pc33.example.com"
    assert msg.cseq == CSeq(314159, "INVITE")
    assert [c.expires for c in msg.contacts] == [60, None]
    assert msg.contacts[1].q == 0.5
    assert [str(r.uri) for r in msg.record_routes] == [
        "sip:p2.example.com;lr",
        "sip:p1.example.com;lr",
    ]
    assert msg.allow == ["INVITE", "ACK", "CANCEL", "BYE"]
    assert msg.supported == ["replaces", "timer"]
    assert msg.content_type is not None
    assert msg.content_type.mime == "application/sdp"
    assert msg.body == b"v=0\r"  # trailing octets beyond Content-Length ignored
    assert msg.headers.get("call-id") == msg.headers.get("I") == msg.call_id
    assert msg.max_forwards == 70


def test_round_trip_is_fixed_point() -> None:
    msg = parse_message(INVITE)
    wire = msg.to_bytes()
    again = parse_message(wire)
    assert again == msg
    assert again.to_bytes() == wire
    assert wire.endswith(b"Content-Length: 4\r\n\r\nv=0\r")


def test_response_creation_copies_and_tags() -> None:
    req = parse_message(INVITE)
    assert isinstance(req, Request)
    trying = make_response(req, 100, to_tag="abc")
    assert trying.to.tag is None
    assert trying.reason == "Trying"
    ok = make_response(req, 200, to_tag="abc", headers=[("Contact", "<sip:alice@192.0.2.7>")])
    assert ok.to.tag == "abc"
    assert ok.to.display_name == "Alice"
    assert [str(v) for v in ok.vias] == [str(v) for v in req.vias]
    assert ok.call_id == req.call_id
    assert ok.cseq == req.cseq
    assert ok.headers.get_all("Record-Route") == req.headers.get_all("Record-Route")
    parsed = parse_message(ok.to_bytes())
    assert parsed == ok
    assert isinstance(parsed, Response)
    assert parsed.status == 200
    assert "Record-Route" not in make_response(req, 486, to_tag="abc").headers


def test_cancel_matches_invite() -> None:
    req = parse_message(INVITE)
    assert isinstance(req, Request)
    cancel = make_cancel(req)
    assert cancel.method == "CANCEL"
    assert cancel.uri == req.uri
    assert cancel.cseq == CSeq(314159, "CANCEL")
    assert len(cancel.vias) == 1
    assert cancel.top_via.branch == req.top_via.branch
    assert cancel.from_.tag == req.from_.tag


def test_builder_rejects_header_injection() -> None:
    with pytest.raises(HeaderValueError):
        Request("INVITE", "sip:a@b", [("Subject", "hi\r\nVia: SIP/2.0/UDP evil")])
    with pytest.raises(HeaderValueError):
        Request("INVITE", "sip:a@b", [("Bad Name", "x")])
    with pytest.raises(HeaderValueError):
        Request("INV ITE", "sip:a@b")
    with pytest.raises(HeaderValueError):
        Response(200, "OK\r\nX: y")
    display = NameAddr(SipURI("example.com", user="bob"), display_name="evil\nX: 1")
    with pytest.raises(HeaderValueError):
        Headers([("From", display)])
    with pytest.raises(SipParseError):
        Request("INVITE", "sip:a b@c")


def test_builder_makes_parseable_messages() -> None:
    uri = SipURI("pbx.example.com", user=escape_user("+1 555/12#3"), port=5060)
    req = Request(
        "OPTIONS",
        uri,
        [
            ("Via", Via("UDP", "192.0.2.5", 5062, {"branch": "z9hG4bKabc", "rport": None})),
            ("From", NameAddr(uri, 'Joe "the" \\ Caller', {"tag": "x1"})),
            ("To", NameAddr(uri)),
            ("Call-ID", "abc@192.0.2.5"),
            ("CSeq", CSeq(1, "OPTIONS")),
            ("Max-Forwards", 70),
        ],
        body=b"hello",
    )
    parsed = parse_message(req.to_bytes())
    assert parsed == req
    assert parsed.from_.display_name == 'Joe "the" \\ Caller'
    assert isinstance(parsed, Request)
    assert isinstance(parsed.uri, SipURI)
    assert parsed.uri.user_decoded == "+1 555/12#3"
    assert parsed.top_via.has_rport


def test_headers_container_semantics() -> None:
    h = Headers([("Via", "SIP/2.0/UDP a"), ("v", "SIP/2.0/UDP b, SIP/2.0/UDP c")])
    assert h.values("VIA") == ["SIP/2.0/UDP a", "SIP/2.0/UDP b", "SIP/2.0/UDP c"]
    h.insert_first("Via", "SIP/2.0/UDP z")
    assert h.get("via") == "SIP/2.0/UDP z"
    assert h.count("Via") == 3
    h.set("Subject", "x")
    h.set("s", "y")
    assert h.get_all("Subject") == ["y"]
    assert h.remove("Via") == 3
    assert "Via" not in h
    auth = Headers([("WWW-Authenticate", 'Digest realm="a,b", nonce="n"')])
    assert auth.values("WWW-Authenticate") == ['Digest realm="a,b", nonce="n"']


def test_challenge_parse() -> None:
    ch = parse_challenge(
        'Digest realm="atlanta.com", domain="sip:boxesbybob.com", qop="auth,auth-int", '
        'nonce="f84f1cec41e6cbe5aea9c8e88d359", opaque="", stale=FALSE, algorithm=MD5'
    )
    assert ch.scheme == "Digest"
    assert ch.params["realm"] == "atlanta.com"
    assert ch.params["qop"] == "auth,auth-int"
    assert ch.params["opaque"] == ""
    assert ch.params["stale"] == "FALSE"
    assert ch.params["algorithm"] == "MD5"
    assert parse_challenge(str(ch)) == ch
    with pytest.raises(SipParseError):
        parse_challenge('Digest realm="unterminated')


def test_uri_parsing_and_comparison() -> None:
    assert isinstance(parse_uri("tel:+15551234;phone-context=x"), AbsoluteURI)
    u = parse_uri("sips:alice:secret@EXAMPLE.com:5061;transport=TCP;lr?subject=hi&x=y")
    assert isinstance(u, SipURI)
    assert (u.user, u.password, u.port, u.secure) == ("alice", "secret", 5061, True)
    assert u.headers == [("subject", "hi"), ("x", "y")]
    assert parse_uri(str(u)) == u
    assert uri_equivalent(parse_uri("sip:%61lice@atlanta.com;transport=TCP"),
                          parse_uri("sip:alice@AtLanTa.CoM;Transport=tcp"))  # fmt: skip
    assert not uri_equivalent(parse_uri("sip:alice@a.com"), parse_uri("sip:ALICE@a.com"))
    assert not uri_equivalent(parse_uri("sip:bob@b.com"), parse_uri("sip:bob@b.com:5060"))
    assert not uri_equivalent(parse_uri("sip:c@d.com;user=phone"), parse_uri("sip:c@d.com"))
    for bad in ("sip:", "sip:@host", "sip:a@[::1", "sip:a@host:99999", "sip:a@h;=x", "1x:y"):
        with pytest.raises(SipParseError):
            parse_uri(bad)


def test_via_and_name_addr_details() -> None:
    v = parse_via("SIP / 2.0 / udp host.example.com : 5060 ; branch = z9hG4bKa ; rport=5061")
    assert (v.transport, v.host, v.port, v.branch, v.rport) == (
        "UDP",
        "host.example.com",
        5060,
        "z9hG4bKa",
        5061,
    )
    assert parse_via(str(v)) == v
    na = parse_name_addr("sip:bob@example.com;tag=7")
    assert na.tag == "7"
    assert na.display_name is None
    na2 = parse_name_addr("<sip:bob@example.com;lr>;tag=7")
    assert isinstance(na2.uri, SipURI)
    assert na2.uri.lr
    assert na2.tag == "7"
    assert parse_name_addr(str(na2)) == na2
    assert parse_content_type("multipart/mixed;boundary=xyz").params == {"boundary": "xyz"}


@pytest.mark.parametrize(
    ("data", "status", "is_request"),
    [
        (b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n", 400, True),  # no blank line
        (b"INVITE sip:a@b SIP/3.0\r\n\r\n", 505, True),
        (b"INVITE sip:a@b SIP/2.0\r\nBad Header: x\r\n\r\n", 400, True),
        (b"INVITE sip:a@b SIP/2.0\r\n x\r\n\r\n", 400, True),
        (b"INVITE sip:a@b SIP/2.0\r\nCSeq: x INVITE\r\n\r\n", 400, True),
        (b"INVITE sip:a@b SIP/2.0\r\nMax-Forwards: 256\r\n\r\n", 400, True),
        (b"INVITE sip:a@b SIP/2.0\r\nl: 1\r\nl: 2\r\n\r\nxx", 400, True),
        (b"INVITE sip:a@b SIP/2.0\rX: y\r\n\r\n", 400, True),
        (b"SIP/2.0 2000 OK\r\n\r\n", 400, False),
        (b"SIP/2.0 099 Weird\r\n\r\n", 400, False),
        (b"SIP/1.0 200 OK\r\n\r\n", 400, False),
        (b"INVITE sip:a@b SIP/2.0\r\n" + b"X: y\r\n" * 300 + b"\r\n", 513, True),
        (b"X" * 70000, 513, True),
    ],
)
def test_typed_parse_errors(data: bytes, status: int, is_request: bool) -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    assert info.value.status == status
    assert info.value.is_request is is_request


def test_error_response_built_from_partial_headers() -> None:
    data = (
        b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKq\r\n"
        b"From: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n"
        b"Contact: <sip:x@y;;>\r\n\r\n"
    )
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    answer = error_response(info.value)
    assert answer is not None
    assert answer.status == 400
    assert answer.call_id == "c1"
    assert answer.top_via.branch == "z9hG4bKq"
    assert parse_message(answer.to_bytes()) == answer
    no_callid = data.replace(b"Call-ID: c1\r\n", b"")
    with pytest.raises(SipParseError) as info2:
        parse_message(no_callid)
    assert error_response(info2.value) is None


def test_leading_crlf_and_bare_lf_tolerated() -> None:
    msg = parse_message(b"\r\n\r\nOPTIONS sip:a@b SIP/2.0\nCall-ID: x\nl: 0\n\n")
    assert isinstance(msg, Request)
    assert msg.call_id == "x"


# -- stream framing ---------------------------------------------------------------------------


def test_stream_framer_splits_and_reassembles() -> None:
    one = parse_message(INVITE).to_bytes()
    two = Response(200, headers=[("Call-ID", "z")], body=b"abc").to_bytes()
    stream = b"\r\n\r\n" + one + two + b"\r\n"
    framer = StreamFramer()
    out: list[bytes] = []
    for i in range(0, len(stream), 7):
        framer.feed(stream[i : i + 7])
        while (m := framer.next_message()) is not None:
            out.append(m)
    assert out == [one, two]
    assert framer.pings == 1
    assert framer.buffered == 0


@pytest.mark.parametrize(
    "stream",
    [
        b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n",  # no Content-Length
        b"OPTIONS sip:a@b SIP/2.0\r\nl: 5\r\nContent-Length: 6\r\n\r\n",
        b"OPTIONS sip:a@b SIP/2.0\r\nl: -1\r\n\r\n",
        b"OPTIONS sip:a@b SIP/2.0\r\nl: 999999\r\n\r\n",
        b"OPTIONS sip:a@b SIP/2.0\r\n" + b"X: " + b"a" * 20000,  # header never ends
    ],
)
def test_stream_framer_errors_close(stream: bytes) -> None:
    framer = StreamFramer(max_message=65535, max_header=16384)
    framer.feed(stream)
    with pytest.raises(SipFramingError):
        framer.next_message()
    assert framer.failed
    with pytest.raises(SipFramingError):
        framer.feed(b"x")


# -- properties --------------------------------------------------------------------------------

_token = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~",
    min_size=1,
    max_size=12,
)
_uri_token = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!*_+'~",
    min_size=1,
    max_size=12,
)
_safe_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"),
    max_size=30,
)
_host = st.sampled_from(["example.com", "192.0.2.1", "[2001:db8::1]", "a-b.c.example.org"])
_sip_uri = st.builds(
    SipURI,
    host=_host,
    user=st.none() | _safe_text.filter(bool).map(escape_user),
    port=st.none() | st.integers(1, 65535),
    params=st.dictionaries(_uri_token.map(str.lower), st.none() | _uri_token, max_size=3),
)
_name_addr = st.builds(
    NameAddr,
    uri=_sip_uri,
    display_name=st.none() | _safe_text.filter(bool),
    params=st.dictionaries(_token.map(str.lower), st.none() | _token, max_size=3),
)
_via = st.builds(
    Via,
    transport=st.sampled_from(["UDP", "TCP", "TLS", "WS"]),
    host=_host,
    port=st.none() | st.integers(1, 65535),
    params=st.fixed_dictionaries({"branch": _token.map(lambda t: "z9hG4bK" + t)}),
)


@st.composite
def _messages(draw: st.DrawFn) -> Request | Response:
    headers: list[tuple[str, object]] = [("Via", v) for v in draw(st.lists(_via, max_size=3))]
    headers += [("From", draw(_name_addr)), ("To", draw(_name_addr))]
    headers += [("Call-ID", draw(_token)), ("CSeq", CSeq(draw(st.integers(0, 2**31)), "X"))]
    headers += [("Contact", c) for c in draw(st.lists(_name_addr, max_size=2))]
    headers += [
        ("X-" + n, v.strip(" \t")) for n, v in draw(st.lists(st.tuples(_token, _safe_text)))
    ]
    body = draw(st.binary(max_size=64))
    if draw(st.booleans()):
        return Request(draw(_token), draw(_sip_uri), headers, body)
    reason = draw(_safe_text).strip(" \t") or "R"
    return Response(draw(st.integers(100, 699)), reason, headers, body)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_messages())
def test_parse_serialize_round_trip(msg: Request | Response) -> None:
    wire = msg.to_bytes()
    parsed = parse_message(wire)
    assert parsed == msg
    assert parsed.to_bytes() == wire
    assert parsed.from_ == msg.from_
    assert parsed.vias == msg.vias
    assert parsed.contacts == msg.contacts


@settings(max_examples=100, deadline=None)
@given(_name_addr)
def test_name_addr_round_trip(na: NameAddr) -> None:
    assert parse_name_addr(str(na)) == na


def _register(ruri: str, via_host: str, contact: str) -> bytes:
    return (
        f"REGISTER {ruri} SIP/2.0\r\n"
        f"To: <sip:user@example.com>\r\nFrom: <sip:user@example.com>;tag=81x2\r\n"
        f"Via: SIP/2.0/UDP {via_host};branch=z9hG4bKas3-111\r\n"
        f"Call-ID: SSG9559905523997077@hlau_4100\r\nMax-Forwards: 70\r\n"
        f"Contact: {contact}\r\nCSeq: 98176 REGISTER\r\nContent-Length: 0\r\n\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("ruri", "via_host", "contact", "host", "port"),
    [  # IPv6 references in the style of RFC 5118 §4 (valid forms)
        (
            "sip:[2001:db8::10]",
            "[2001:db8::9:1]",
            "<sip:user@[2001:db8::1]>",
            "[2001:db8::10]",
            None,
        ),
        (
            "sip:[2001:db8::10]:5070",
            "[2001:db8::9:1]:5060",
            '"u" <sip:u@[2001:db8::1]:5070>',
            "[2001:db8::10]",
            5070,
        ),
        (
            "sip:[2001:db8::10:5070]",
            "[2001:db8::9:1]",
            "<sip:user@[2001:db8::1]>",
            "[2001:db8::10:5070]",
            None,
        ),
        (
            "sip:[::ffff:192.0.2.10]",
            "[::ffff:192.0.2.2]",
            "<sip:user@[::ffff:192.0.2.2]>",
            "[::ffff:192.0.2.10]",
            None,
        ),
    ],
)
def test_ipv6_references_parse(
    ruri: str, via_host: str, contact: str, host: str, port: int | None
) -> None:
    msg = parse_message(_register(ruri, via_host, contact))
    assert isinstance(msg, Request)
    assert isinstance(msg.uri, SipURI)
    assert (msg.uri.host, msg.uri.port) == (host, port)
    assert msg.top_via.host.startswith("[")
    contact_uri = msg.contacts[0].uri
    assert isinstance(contact_uri, SipURI)
    assert contact_uri.host.startswith("[")
    assert parse_message(msg.to_bytes()) == msg


@pytest.mark.parametrize(
    ("ruri", "via_host", "contact"),
    [  # IPv6 without brackets (RFC 5118 §4.2 style) and broken references: 400
        ("sip:2001:db8::10", "[2001:db8::9:1]", "<sip:user@[2001:db8::1]>"),
        ("sip:[2001:db8::10", "[2001:db8::9:1]", "<sip:user@[2001:db8::1]>"),
        ("sip:[2001:db8::10]x", "[2001:db8::9:1]", "<sip:user@[2001:db8::1]>"),
        ("sip:[]", "[2001:db8::9:1]", "<sip:user@[2001:db8::1]>"),
        ("sip:[2001:db8::10]", "2001:db8::9:1", "<sip:user@[2001:db8::1]>"),
        ("sip:[2001:db8::10]", "[2001:db8::9:1]", "<sip:user@[2001:db8::g]>"),
    ],
)
def test_ipv6_malformed_references_are_400(ruri: str, via_host: str, contact: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(_register(ruri, via_host, contact))
    assert info.value.status == 400
    assert info.value.is_request


def test_ipv6_received_parameter_with_and_without_brackets() -> None:
    plain = parse_via("SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKa;received=2001:db8::9:255")
    bracketed = parse_via("SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKa;received=[2001:db8::9:255]")
    assert plain.received == "2001:db8::9:255"
    assert bracketed.received == "[2001:db8::9:255]"


def test_contact_star_expires_and_header_lists() -> None:
    unregister = parse_message(
        b"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKu\r\n"
        b"From: <sip:u@example.com>;tag=1\r\nTo: <sip:u@example.com>\r\nCall-ID: u1\r\n"
        b"CSeq: 2 REGISTER\r\nContact: *\r\nExpires: 0\r\nl: 0\r\n\r\n"
    )
    assert unregister.contact_star
    assert unregister.contacts == []
    assert unregister.expires == 0
    many = parse_message(
        b"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKv\r\n"
        b"From: <sip:u@example.com>;tag=1\r\nTo: <sip:u@example.com>\r\nCall-ID: u2\r\n"
        b'CSeq: 3 REGISTER\r\nContact: "A, B" <sip:a@h1>;expires=30;q=0.7,\r\n'
        b" <sip:b@h2;transport=tcp>\r\nm: sip:c@h3;expires=5\r\n"
        b"Require: path\r\nSupported: outbound, path\r\nl: 0\r\n\r\n"
    )
    assert not many.contact_star
    assert [c.display_name for c in many.contacts] == ["A, B", None, None]
    assert [c.expires for c in many.contacts] == [30, None, 5]
    assert many.require == ["path"]
    assert many.supported == ["outbound", "path"]


def test_cancel_and_ack_copy_the_top_via_byte_for_byte() -> None:
    from ata.sip.transaction import make_ack

    odd = INVITE.replace(
        b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport",
        b"Via: SIP/2.0/udp 192.0.2.1:5060 ; Branch=z9hG4bK776asdhds ;rport",
    )
    req = parse_message(odd)
    assert isinstance(req, Request)
    raw_top = "SIP/2.0/udp 192.0.2.1:5060 ; Branch=z9hG4bK776asdhds ;rport"
    assert make_cancel(req).headers.get_all("Via") == [raw_top]
    busy = make_response(req, 486, to_tag="b")
    assert make_ack(req, busy).headers.get_all("Via") == [raw_top]


def test_raw_nul_in_a_header_is_refused_and_cannot_be_echoed() -> None:
    """Regression (found by the UA fuzz test): a Call-ID holding a raw NUL was accepted, and
    answering it raised while copying the Call-ID. A quoted-pair NUL stays legal (RFC 4475
    3.1.1.2)."""
    from ata.sip.message import error_response

    raw = (
        b"OPTIONS sip:u@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
        b"From: <sip:a@example.com>;tag=1\r\nTo: <sip:u@example.com>\r\n"
        b"Call-ID: \x00abc\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    with pytest.raises(SipParseError) as info:
        parse_message(raw)
    assert "NUL" in info.value.reason
    assert error_response(info.value) is None  # nothing safe to answer with: dropped
    quoted = raw.replace(b"Call-ID: \x00abc", b"Call-ID: abc").replace(
        b"To: <sip", b'To: "x\\\x00y" <sip'
    )
    message = parse_message(quoted)
    assert message.call_id == "abc"
    assert b'"x\\\x00y"' in message.to_bytes()
