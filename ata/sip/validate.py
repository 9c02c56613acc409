"""UAS/UAC checks on parsed messages (RFC 3261 §8.1.3.3, §8.2.1–§8.2.3).

``validate_request(req, profile)`` raises :class:`SipRequestRejected` with the status to answer
and the header fields the answer must carry, in the order RFC 3261 §8.2 applies them:

1. missing To/From/Call-ID/CSeq/Via, or a singleton header repeated → 400;
2. Request-URI scheme not handled (or a REGISTER whose To is not a SIP URI) → 416;
3. method not implemented → 501 with ``Allow`` (405 when ``not_allowed`` lists it);
4. CSeq method different from the request method → 400;
5. ``Require`` lists an extension we do not support → 420 with ``Unsupported``;
6. a body of a type we do not accept → 415 with ``Accept``.

Max-Forwards is not required (an RFC 2543 peer may omit it; a UAS processes Max-Forwards 0).
``check_response(resp)`` raises :class:`SipParseError` for a response a UAC must discard:
more than one Via (§8.1.3.3) or missing mandatory headers. Responses are never answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from ata.sip.errors import SipParseError, SipRequestRejected
from ata.sip.fields import SINGLETONS
from ata.sip.message import Request, Response
from ata.sip.uri import SipURI

MANDATORY: Final = ("To", "From", "Call-ID", "CSeq", "Via")
UA_METHODS: Final = frozenset(
    {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "UPDATE", "NOTIFY", "REFER", "PRACK"}
)


@dataclass(frozen=True)
class Profile:
    """What this UAS implements and accepts."""

    methods: frozenset[str] = UA_METHODS
    not_allowed: frozenset[str] = frozenset()
    schemes: frozenset[str] = frozenset({"sip", "sips", "tel"})
    supported: frozenset[str] = frozenset()  # option tags we implement (Require checks)
    accept: tuple[str, ...] = ("application/sdp",)
    body_methods_exempt: frozenset[str] = field(default=frozenset({"INFO", "NOTIFY"}))


UA_PROFILE: Final = Profile()
REGISTRAR_PROFILE: Final = Profile(methods=UA_METHODS | {"REGISTER"})


def validate_request(req: Request, profile: Profile = UA_PROFILE) -> None:
    """Raise :class:`SipRequestRejected` if ``req`` must be refused (see module docstring)."""
    headers = req.headers
    for name in MANDATORY:
        if name not in headers:
            raise SipRequestRejected(400, f"Missing {name}")
    for name in SINGLETONS:
        if headers.count(name) > 1:
            raise SipRequestRejected(400, f"Multiple {name} headers")
    if req.uri.scheme.lower() not in profile.schemes:
        raise SipRequestRejected(416, "Unsupported URI Scheme")
    if req.method == "REGISTER" and not isinstance(req.to.uri, SipURI):
        raise SipRequestRejected(416, "Unsupported URI Scheme")
    allow = [("Allow", ", ".join(sorted(profile.methods - profile.not_allowed)))]
    if req.method not in profile.methods:
        raise SipRequestRejected(501, "Not Implemented", allow)
    if req.method in profile.not_allowed:
        raise SipRequestRejected(405, "Method Not Allowed", allow)
    if req.cseq.method != req.method:
        raise SipRequestRejected(400, "CSeq method does not match request method")
    if req.method not in ("ACK", "CANCEL"):
        unknown = [opt for opt in req.require if opt.lower() not in profile.supported]
        if unknown:
            raise SipRequestRejected(420, "Bad Extension", [("Unsupported", ", ".join(unknown))])
    if req.body and req.method not in profile.body_methods_exempt:
        ctype = req.content_type
        if ctype is None or ctype.mime not in profile.accept:
            raise SipRequestRejected(
                415, "Unsupported Media Type", [("Accept", ", ".join(profile.accept))]
            )


def check_response(resp: Response) -> None:
    """Raise :class:`SipParseError` if a UAC must silently discard ``resp``."""
    headers = resp.headers
    for name in MANDATORY:
        if name not in headers:
            raise SipParseError(f"response without {name}", is_request=False)
    if len(resp.vias) != 1:
        raise SipParseError("response with more than one Via", is_request=False)
    for name in ("From", "To", "Call-ID", "CSeq"):
        if headers.count(name) > 1:
            raise SipParseError(f"response with multiple {name}", is_request=False)
