"""Next-hop choice, local addresses and small body parsers of the UA (pure functions)."""

from __future__ import annotations

import pytest

from ata.sip.dialog import Dialog
from ata.sip.errors import SipError
from ata.sip.headers import NameAddr
from ata.sip.message import Request, make_response
from ata.sip.ua_support import (
    UaConfig,
    address_of,
    addressed_to,
    dialog_hop,
    dtmf_relay,
    local_contact,
    local_identity,
    local_via,
    message_summary,
    out_of_dialog_hop,
)
from ata.sip.uri import SipURI, parse_uri

CFG = UaConfig(user="+1 555", domain="pbx.example.com", local_host="192.0.2.1", local_port=5062)


def test_address_of_ip_literals_maddr_and_resolver() -> None:
    assert address_of(parse_uri("sip:a@192.0.2.7"), None) == ("192.0.2.7", 5060)
    assert address_of(parse_uri("sips:a@192.0.2.7"), None) == ("192.0.2.7", 5061)
    assert address_of(parse_uri("sip:a@[2001:db8::1]:5070"), None) == ("2001:db8::1", 5070)
    assert address_of(parse_uri("sip:a@host.example;maddr=192.0.2.9"), None) == ("192.0.2.9", 5060)
    with pytest.raises(SipError) as err:
        address_of(parse_uri("sip:a@pbx.example.com"), None)
    assert err.value.status == 503
    table = {"pbx.example.com": ("198.51.100.4", 5080)}

    def resolve(uri: object) -> tuple[str, int] | None:
        return table.get(uri.host) if isinstance(uri, SipURI) else None

    assert address_of(parse_uri("sip:a@pbx.example.com"), resolve) == ("198.51.100.4", 5080)
    with pytest.raises(SipError):
        address_of(parse_uri("tel:+15551234"), resolve)


def _dialog(record_route: list[str]) -> Dialog:
    invite = Request(
        "INVITE",
        "sip:bob@example.com",
        [
            ("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKd"),
            ("From", "<sip:alice@example.com>;tag=a"),
            ("To", "<sip:bob@example.com>"),
            ("Call-ID", "d1"),
            ("CSeq", "1 INVITE"),
        ],
    )
    ok = make_response(invite, 200, to_tag="b", headers=[("Contact", "<sip:bob@192.0.2.50:5099>")])
    for rr in record_route:
        ok.headers.add("Record-Route", rr)
    return Dialog.from_uac(invite, ok)


def test_hops_follow_proxy_route_set_or_target() -> None:
    assert dialog_hop(CFG, _dialog([]), None) == ("192.0.2.50", 5099)
    routed = _dialog(["<sip:192.0.2.60:5070;lr>"])
    assert dialog_hop(CFG, routed, None) == ("192.0.2.60", 5070)
    proxied = UaConfig(
        user="u", domain="d", local_host="192.0.2.1", outbound_proxy=("10.0.0.1", 5060)
    )
    assert dialog_hop(proxied, routed, None) == ("10.0.0.1", 5060)
    assert out_of_dialog_hop(proxied, parse_uri("sip:x@y.example"), None) == ("10.0.0.1", 5060)
    assert out_of_dialog_hop(CFG, parse_uri("sip:x@192.0.2.3"), None) == ("192.0.2.3", 5060)


def test_local_addresses_escape_the_user() -> None:
    assert str(local_via(CFG)) == "SIP/2.0/UDP 192.0.2.1:5062;rport"
    assert str(local_contact(CFG)) == "<sip:+1%20555@192.0.2.1:5062>"
    tcp = UaConfig(
        user="u", domain="d", local_host="192.0.2.1", transport="tcp", display_name="Line 1"
    )
    assert str(local_contact(tcp)) == "<sip:u@192.0.2.1:5060;transport=tcp>"
    assert str(local_identity(tcp)) == '"Line 1" <sip:u@d>'
    assert local_identity(CFG).display_name is None


def test_addressed_to_request_uri_or_to_user() -> None:
    def req(ruri: str, to: str) -> Request:
        return Request("INVITE", ruri, [("To", to)])

    assert addressed_to(CFG, req("sip:+1%20555@192.0.2.1", "<sip:x@y>"))
    assert addressed_to(CFG, req("sip:192.0.2.1", "<sip:+1%20555@pbx.example.com>"))
    assert not addressed_to(CFG, req("sip:100@192.0.2.1", "<sip:100@192.0.2.1>"))
    assert not addressed_to(CFG, req("sip:100@192.0.2.1", "<tel:+1555>"))


def test_body_parsers() -> None:
    info = Request(
        "INFO",
        "sip:a@b",
        [("Content-Type", "application/dtmf-relay")],
        body=b"Signal= #\r\nDuration= 100\r\n",
    )
    assert dtmf_relay(info) == ("#", 100)
    junk = Request(
        "INFO", "sip:a@b", [("Content-Type", "application/dtmf-relay")], body=b"Signal=XY"
    )
    assert dtmf_relay(junk) == ("", 250)
    other = Request("INFO", "sip:a@b", [("Content-Type", "text/plain")], body=b"Signal=1")
    assert dtmf_relay(other) == ("", 0)
    mwi = Request(
        "NOTIFY", "sip:a@b", [("Event", "message-summary")], body=b"Messages-Waiting: no\r\n"
    )
    assert message_summary(mwi) == (False, "Messages-Waiting: no\r\n")
    assert message_summary(Request("NOTIFY", "sip:a@b", [("Event", "dialog")])) is None
    assert NameAddr(parse_uri("sip:a@b")).tag is None


@pytest.mark.parametrize(
    ("accept", "ok"),
    [
        (None, True),
        ("", True),
        ("application/sdp", True),
        ("text/plain;q=0.5, Application/SDP", True),
        ("application/*", True),
        ("*/*;q=0.1", True),
        ("text/nobodyKnowsThis", False),
        ("text/plain, application/pidf+xml", False),
    ],
)
def test_accepts_sdp(accept: str | None, ok: bool) -> None:
    from ata.sip.ua_support import accepts_sdp

    headers = [
        ("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa"),
        ("From", "<sip:a@example.com>;tag=1"),
        ("To", "<sip:b@example.com>"),
        ("Call-ID", "acc"),
        ("CSeq", "1 INVITE"),
    ]
    if accept is not None:
        headers.append(("Accept", accept))
    assert accepts_sdp(Request("INVITE", "sip:b@example.com", headers)) is ok
