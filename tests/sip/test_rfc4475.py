"""RFC 4475 torture messages, table-driven: what pi-ata's parser and UAS checks do with each.

Expected outcomes (see tests/sip/data/rfc4475, copied byte-exact from the shared corpus):

* ``OK``            parses and passes ``validate_request`` / ``check_response``;
* ``PARSE(s)``      ``parse_message`` raises ``SipParseError(status=s)`` and ``error_response``
                    builds an ``s`` answer (the request is answerable);
* ``REJECT(s)``     parses, then ``validate_request`` refuses it with ``s``;
* ``DROP``          a response that is malformed (parse error) or must be discarded.

The profile column says which UAS role is checked: ``UA`` (pi-ata's phone side) or
``REG`` (the embedded registrar, which implements REGISTER), or ``MSG`` (a UA that implements
MESSAGE, to reach the body check of 3.1.1.11).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ata.sip.errors import SipParseError, SipRequestRejected
from ata.sip.message import Request, Response, error_response, make_response
from ata.sip.parser import parse_message
from ata.sip.uri import SipURI, uri_equivalent
from ata.sip.validate import (
    REGISTRAR_PROFILE,
    UA_PROFILE,
    Profile,
    check_response,
    validate_request,
)

DATA = Path(__file__).parent / "data" / "rfc4475"
MSG_PROFILE = Profile(methods=UA_PROFILE.methods | {"MESSAGE"})
PROFILES = {"UA": UA_PROFILE, "REG": REGISTRAR_PROFILE, "MSG": MSG_PROFILE}

OK = ("ok", 0)
DROP = ("drop", 0)


def PARSE(status: int) -> tuple[str, int]:
    return ("parse", status)


def REJECT(status: int) -> tuple[str, int]:
    return ("reject", status)


# (RFC 4475 section, file, profile, expected, why)
CASES = [
    ("3.1.1.1", "TC_WSINV", "UA", OK, "folding, odd case, LWS everywhere, escaped quotes"),
    ("3.1.1.2", "TC_INTMETH", "UA", REJECT(501), "unknown method parses; answered 501"),
    ("3.1.1.3", "TC_ESC01_V", "UA", OK, "escaped URI characters"),
    ("3.1.1.4", "TC_ESCNULL_V", "REG", OK, "%00 in user part"),
    ("3.1.1.5", "TC_ESC02_V", "REG", REJECT(501), "RE%47IST%45R is not REGISTER"),
    ("3.1.1.6", "TC_LWSDISP_V", "UA", OK, "no LWS between display name and <"),
    ("3.1.1.7", "TC_LONGREQ_V", "UA", OK, "long values, 43 headers, 593-byte line"),
    ("3.1.1.8", "TC_DBLREQ", "REG", OK, "second request after Content-Length ignored"),
    ("3.1.1.9", "TC_SEMIURI_V", "UA", OK, "semicolon in userinfo"),
    ("3.1.1.10", "TC_TRANSPORTS_V", "UA", OK, "unknown transports in Via"),
    ("3.1.1.11", "TC_MPART01", "MSG", REJECT(415), "binary multipart parses; 415 if unsupported"),
    ("3.1.1.12", "TC_UNREASON_V", "UA", OK, "UTF-8 reason phrase"),
    ("3.1.1.13", "TC_NOREASON_V", "UA", OK, "empty reason phrase"),
    ("3.1.2.1", "TC_BADINV01_I", "UA", PARSE(400), "empty Via/Contact parameters"),
    ("3.1.2.2", "TC_CLERR_I", "UA", PARSE(400), "Content-Length larger than datagram"),
    ("3.1.2.3", "TC_NCL_I", "UA", PARSE(400), "negative Content-Length"),
    ("3.1.2.4", "TC_SCALAR02_V", "REG", PARSE(400), "CSeq and Max-Forwards out of range"),
    ("3.1.2.5", "TC_SCALARLG_V", "UA", DROP, "response with out-of-range values"),
    ("3.1.2.6", "TC_QUOTBAL_I", "UA", PARSE(400), "unterminated quoted string"),
    ("3.1.2.7", "TC_LTGTRURI_I", "UA", PARSE(400), "<> around Request-URI"),
    ("3.1.2.8", "TC_LWSRURI_I", "UA", PARSE(400), "whitespace inside Request-URI"),
    ("3.1.2.9", "TC_LWSSTART_V", "UA", PARSE(400), "multiple spaces in request line"),
    ("3.1.2.10", "TC_TRWS_I", "UA", PARSE(400), "trailing whitespace on request line"),
    ("3.1.2.11", "TC_ESCRURI_V", "UA", PARSE(400), "headers component in Request-URI"),
    ("3.1.2.12", "TC_BADDATE_V", "UA", OK, "non-GMT Date is ignored"),
    ("3.1.2.13", "TC_REGBADCT_I", "REG", PARSE(400), "addr-spec Contact with '?'"),
    ("3.1.2.14", "TC_BADASPEC_I", "UA", PARSE(400), "whitespace inside <...>"),
    ("3.1.2.15", "TC_BADDN_I", "UA", PARSE(400), "unquoted display name with comma"),
    ("3.1.2.16", "TC_BADVERS_V", "UA", PARSE(505), "SIP/7.0"),
    ("3.1.2.17", "TC_MISMATCH01_V", "UA", REJECT(400), "CSeq method != request method"),
    ("3.1.2.18", "TC_MISMATCH02_V", "UA", REJECT(501), "unknown method, CSeq INVITE"),
    ("3.1.2.19", "TC_BIGCODE_V", "UA", DROP, "status code 4294967301"),
    ("3.2.1", "TC_BADBRANCH_V", "UA", OK, "branch is only the cookie (transaction layer)"),
    ("3.3.1", "TC_INSUF_I", "UA", REJECT(400), "missing To, From, Call-ID, Max-Forwards"),
    ("3.3.2", "TC_UNKSCM_V", "UA", REJECT(416), "unknown Request-URI scheme"),
    ("3.3.3", "TC_NOVELSC_V", "UA", REJECT(416), "soap.beep Request-URI: a UA answers 416"),
    ("3.3.4", "TC_UNKSM2_V", "REG", REJECT(416), "REGISTER with non-SIP To"),
    ("3.3.5", "TC_BEXT01_V", "UA", REJECT(420), "Require with unknown extensions"),
    ("3.3.6", "TC_INVUT_V", "UA", REJECT(415), "unknown body type"),
    ("3.3.7", "TC_REGAUT01_V", "REG", OK, "unknown auth scheme (registrar concern)"),
    ("3.3.8", "TC_MULTI01_I", "UA", REJECT(400), "repeated singleton headers"),
    ("3.3.9", "TC_MCL01_I", "UA", PARSE(400), "two different Content-Length values"),
    ("3.3.10", "TC_BCAST_V", "UA", DROP, "response with two Vias"),
    ("3.3.11", "TC_ZEROMF_V", "UA", OK, "Max-Forwards 0 at the endpoint"),
    ("3.3.12", "TC_CPARAM01_V", "REG", OK, "addr-spec Contact with param"),
    ("3.3.13", "TC_CPARAM02_V", "REG", OK, "name-addr Contact with URI param"),
    ("3.3.14", "TC_REGESCRT_V", "REG", OK, "escaped headers in Contact URI"),
    ("3.3.15", "TC_SDP01_V", "UA", OK, "SDP problems are the SDP layer's (488)"),
    ("3.4.1", "TC_INV2543_I", "UA", OK, "RFC 2543 request: accepted"),
]


# Responses whose start line or CSeq cannot be parsed (the rest of the DROPs parse, then
# check_response discards them).
UNPARSEABLE_RESPONSES = {"TC_BIGCODE_V", "TC_SCALARLG_V"}


def test_table_covers_all_49_messages() -> None:
    files = {p.stem for p in DATA.glob("*.dat")}
    assert len(CASES) == 49
    assert {c[1] for c in CASES} == files


@pytest.mark.parametrize(
    ("section", "name", "profile", "expected", "why"), CASES, ids=[c[0] for c in CASES]
)
def test_torture_message(
    section: str, name: str, profile: str, expected: tuple[str, int], why: str
) -> None:
    data = (DATA / f"{name}.dat").read_bytes()
    kind, status = expected
    if kind == "parse":
        with pytest.raises(SipParseError) as info:
            parse_message(data)
        assert info.value.status == status, info.value.reason
        assert info.value.is_request
        answer = error_response(info.value)
        assert answer is not None, "request should be answerable"
        assert answer.status == status
        # The answer echoes the request's (possibly malformed) Via/From/To/Call-ID/CSeq.
        wire = answer.to_bytes()
        assert wire.startswith(b"SIP/2.0 %d " % status)
        assert answer.headers.get("Call-ID") == info.value.headers.get("Call-ID")  # type: ignore[union-attr]
        return
    if name in UNPARSEABLE_RESPONSES:
        with pytest.raises(SipParseError) as dropped:
            parse_message(data)
        assert dropped.value.is_request is False
        assert error_response(dropped.value) is None
        return
    msg = parse_message(data)
    if isinstance(msg, Response):
        if kind == "drop":
            with pytest.raises(SipParseError):
                check_response(msg)
        else:
            check_response(msg)
        return
    assert isinstance(msg, Request)
    if kind == "ok":
        validate_request(msg, PROFILES[profile])
    else:
        assert kind == "reject", section
        with pytest.raises(SipRequestRejected) as rej:
            validate_request(msg, PROFILES[profile])
        assert rej.value.status == status
        answer = make_response(msg, rej.value.status, headers=rej.value.extra_headers)
        assert answer.status == status
    # Everything that parsed re-serializes to something that parses back equal.
    assert parse_message(msg.to_bytes()) == msg


def _parse(name: str) -> Request | Response:
    return parse_message((DATA / f"{name}.dat").read_bytes())


def test_wsinv_values_after_unfolding() -> None:
    msg = _parse("TC_WSINV")
    assert isinstance(msg, Request)
    assert msg.method == "INVITE"
    assert msg.max_forwards == 68
    assert (msg.cseq.seq, msg.cseq.method) == (9, "INVITE")
    assert msg.to.tag == "1918181833n"
    assert msg.from_.display_name == 'J Rosenberg \\"'
    assert msg.from_.tag == "98asjd8"
    assert [v.transport for v in msg.vias] == ["UDP", "TCP", "UDP"]
    assert [v.branch for v in msg.vias] == ["390skdjuw", "z9hG4bK9ikj8", "z9hG4bK30239"]
    assert msg.vias[2].host == "192.168.255.111"
    assert msg.headers.get("Subject") == ""
    assert msg.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    (contact,) = msg.contacts
    assert contact.display_name == 'Quoted string ""'
    assert contact.params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    assert contact.q == pytest.approx(0.33)
    assert msg.routes[0].uri == SipURI(
        "services.example.com",
        params={"lr": None, "unknownwith": "value", "unknown-no-value": None},
    )
    assert len(msg.body) == 150


def test_esc01_escapes_compare_decoded() -> None:
    msg = _parse("TC_ESC01_V")
    assert isinstance(msg, Request)
    assert isinstance(msg.uri, SipURI)
    assert msg.uri.user_decoded == "sips:user@example.com"
    to_uri = msg.to.uri
    assert isinstance(to_uri, SipURI)
    assert to_uri.user_decoded == "user"
    assert uri_equivalent(to_uri, SipURI("example.com", user="user"))
    assert msg.call_id == "esc01.239409asdfakjkn23onasd0-3234"
    assert msg.content_type is not None
    assert msg.content_type.mime == "application/sdp"


def test_escnull_user_not_cut_at_nul() -> None:
    msg = _parse("TC_ESCNULL_V")
    users = [c.uri.user_decoded for c in msg.contacts if isinstance(c.uri, SipURI)]
    assert users == ["\x00", "\x00\x00"]
    assert isinstance(msg.to.uri, SipURI)
    assert msg.to.uri.user_decoded == "null-\x00-null"


def test_esc02_escaped_header_name_is_another_header() -> None:
    msg = _parse("TC_ESC02_V")
    assert isinstance(msg, Request)
    assert msg.method == "RE%47IST%45R"
    assert len(msg.contacts) == 2
    assert msg.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"


def test_intmeth_extreme_tokens() -> None:
    msg = _parse("TC_INTMETH")
    assert isinstance(msg, Request)
    assert msg.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert msg.cseq.method == msg.method
    assert isinstance(msg.uri, SipURI)
    assert msg.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert msg.uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert msg.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert msg.from_.display_name == "token1~` token2'+_ token3*%!.-"
    assert msg.from_.tag == "_token~1'+`*%!-."
    assert msg.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"


def test_longreq_every_header_present() -> None:
    data = (DATA / "TC_LONGREQ_V.dat").read_bytes()
    msg = parse_message(data)
    assert len(msg.headers) >= 20
    assert max(len(line) for line in data.split(b"\r\n")) > 256
    assert len(msg.vias) > 10


def test_dblreq_ignores_trailing_octets() -> None:
    msg = _parse("TC_DBLREQ")
    assert isinstance(msg, Request)
    assert msg.method == "REGISTER"
    assert msg.body == b""


def test_unreason_utf8_reason_phrase_round_trips() -> None:
    msg = _parse("TC_UNREASON_V")
    assert isinstance(msg, Response)
    assert msg.status == 200
    assert "2**3 * 5**2" in msg.reason
    assert "\u043d\u043e" in msg.reason  # Cyrillic decoded as UTF-8
    assert (
        msg.to_bytes().split(b"\r\n")[0]
        == (DATA / "TC_UNREASON_V.dat").read_bytes().split(b"\r\n")[0]
    )


def test_noreason_empty_reason() -> None:
    msg = _parse("TC_NOREASON_V")
    assert isinstance(msg, Response)
    assert (msg.status, msg.reason) == (100, "")


def test_transports_and_inv2543_via_details() -> None:
    msg = _parse("TC_TRANSPORTS_V")
    assert [v.transport for v in msg.vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]
    old = _parse("TC_INV2543_I")
    assert old.top_via.branch is None
    assert not old.top_via.rfc3261_branch
    assert old.max_forwards is None
    bad = _parse("TC_BADBRANCH_V")
    assert bad.top_via.branch == "z9hG4bK"
    assert not bad.top_via.rfc3261_branch


def test_regescrt_contact_uri_headers_kept() -> None:
    msg = _parse("TC_REGESCRT_V")
    (contact,) = msg.contacts
    assert isinstance(contact.uri, SipURI)
    assert contact.uri.headers == [("Route", "%3Csip:sip.example.com%3E")]


def test_mpart01_binary_body_intact() -> None:
    data = (DATA / "TC_MPART01.dat").read_bytes()
    msg = parse_message(data)
    cl = int(msg.headers.get("Content-Length") or "0")
    assert len(msg.body) == cl
    assert data.endswith(msg.body)
    assert msg.content_type is not None
    assert msg.content_type.mime == "multipart/mixed"
