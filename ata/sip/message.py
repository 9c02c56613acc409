"""SIP messages: :class:`Request`, :class:`Response`, serialization and response building.

Public API (the rest of pi-ata builds on this):

* ``Request(method, uri, headers=[(name, value), ...], body=b"")`` — ``uri`` a :class:`SipURI`,
  :class:`AbsoluteURI` or text; header values may be typed objects (``Via``, ``NameAddr``,
  ``CSeq`` ...) or text. Every value is checked for CR/LF/NUL (``HeaderValueError``); the
  method must be a token. ``Response(status, reason=None, headers=..., body=b"")``.
* ``msg.headers`` — a :class:`ata.sip.fields.Headers` (``get``, ``get_all``, ``values``,
  ``add``, ``set``, ``insert_first``, ``remove``).
* Typed accessors: ``vias``, ``top_via``, ``from_``, ``to``, ``call_id``, ``cseq``,
  ``max_forwards``, ``contacts``, ``contact_star``, ``routes``, ``record_routes``,
  ``content_type``, ``allow``, ``supported``, ``require``, ``expires``,
  ``challenges(name)``. Missing mandatory headers raise ``SipParseError(400)``.
* ``msg.to_bytes()`` — wire bytes; Content-Length is always written (last) and equals
  ``len(body)``. ``parse_message(msg.to_bytes()) == msg`` (equality ignores Content-Length
  fields, which are framing).
* ``make_response(request, status, reason=None, *, to_tag=None, headers=(), body=b"")`` copies
  Via/From/To/Call-ID/CSeq (and Record-Route for dialog-creating 1xx/2xx) and adds the To tag.
* ``error_response(err)`` — the 400/505/513 answer for a :class:`SipParseError`, built from
  the raw headers read before the error; ``None`` when it cannot be answered (a response, or
  no usable Via/From/To/Call-ID/CSeq): drop it.
* ``make_cancel(request)`` — §9.1 CANCEL for a pending INVITE.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from ata.sip.errors import HeaderValueError, SipParseError
from ata.sip.fields import Headers
from ata.sip.headers import (
    Challenge,
    ContentType,
    CSeq,
    NameAddr,
    Via,
    parse_challenge,
    parse_content_type,
    parse_cseq,
    parse_name_addr,
    parse_name_addr_list,
    parse_token_list,
    parse_uint,
    parse_via_list,
)
from ata.sip.syntax import check_header_value, is_token
from ata.sip.uri import URI, parse_uri

SIP_VERSION: Final = "SIP/2.0"
DIALOG_CREATING: Final = frozenset({"INVITE", "SUBSCRIBE", "REFER", "NOTIFY"})

REASONS: Final[dict[int, str]] = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 200: "OK", 202: "Accepted", 204: "No Notification",
    300: "Multiple Choices", 301: "Moved Permanently", 302: "Moved Temporarily",
    305: "Use Proxy", 380: "Alternative Service", 400: "Bad Request", 401: "Unauthorized",
    402: "Payment Required", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    406: "Not Acceptable", 407: "Proxy Authentication Required", 408: "Request Timeout",
    410: "Gone", 413: "Request Entity Too Large", 414: "Request-URI Too Long",
    415: "Unsupported Media Type", 416: "Unsupported URI Scheme", 420: "Bad Extension",
    421: "Extension Required", 422: "Session Interval Too Small", 423: "Interval Too Brief",
    480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
    482: "Loop Detected", 483: "Too Many Hops", 484: "Address Incomplete", 485: "Ambiguous",
    486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here",
    489: "Bad Event", 491: "Request Pending", 493: "Undecipherable",
    500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Server Time-out", 505: "Version Not Supported",
    513: "Message Too Large", 600: "Busy Everywhere", 603: "Decline",
    604: "Does Not Exist Anywhere", 606: "Not Acceptable",
}  # fmt: skip


def _headers_from(headers: Headers | Iterable[tuple[str, object]]) -> Headers:
    return headers if isinstance(headers, Headers) else Headers(headers)


class Message:
    """Common part of requests and responses."""

    __slots__ = ("body", "headers", "version")

    headers: Headers
    body: bytes
    version: str

    # -- mandatory headers -----------------------------------------------------------------

    def _required(self, name: str) -> str:
        value = self.headers.get(name)
        if value is None:
            raise SipParseError(f"missing {name}")
        return value

    @property
    def vias(self) -> list[Via]:
        return self.headers.cached("via", lambda: parse_via_list(self.headers.get_all("via")))

    @property
    def top_via(self) -> Via:
        vias = self.vias
        if not vias:
            raise SipParseError("missing Via")
        return vias[0]

    @property
    def from_(self) -> NameAddr:
        return self.headers.cached("from", lambda: parse_name_addr(self._required("From")))

    @property
    def to(self) -> NameAddr:
        return self.headers.cached("to", lambda: parse_name_addr(self._required("To")))

    @property
    def call_id(self) -> str:
        value = self._required("Call-ID")
        if not value or " " in value or "\t" in value:
            raise SipParseError("malformed Call-ID")
        return value

    @property
    def cseq(self) -> CSeq:
        return self.headers.cached("cseq", lambda: parse_cseq(self._required("CSeq")))

    # -- optional headers ------------------------------------------------------------------

    @property
    def max_forwards(self) -> int | None:
        def parse() -> int | None:
            value = self.headers.get("Max-Forwards")
            return None if value is None else parse_uint(value, "Max-Forwards", 255)

        return self.headers.cached("max-forwards", parse)

    @property
    def contact_star(self) -> bool:
        values = self.headers.get_all("Contact")
        return len(values) == 1 and values[0].strip() == "*"

    @property
    def contacts(self) -> list[NameAddr]:
        def parse() -> list[NameAddr]:
            if self.contact_star:
                return []
            return parse_name_addr_list(self.headers.get_all("Contact"))

        return self.headers.cached("contact", parse)

    @property
    def routes(self) -> list[NameAddr]:
        return self.headers.cached(
            "route", lambda: parse_name_addr_list(self.headers.get_all("Route"))
        )

    @property
    def record_routes(self) -> list[NameAddr]:
        return self.headers.cached(
            "record-route", lambda: parse_name_addr_list(self.headers.get_all("Record-Route"))
        )

    @property
    def content_type(self) -> ContentType | None:
        value = self.headers.get("Content-Type")
        return None if value is None else parse_content_type(value)

    @property
    def allow(self) -> list[str]:
        return parse_token_list(self.headers.get_all("Allow"))

    @property
    def supported(self) -> list[str]:
        return parse_token_list(self.headers.get_all("Supported"))

    @property
    def require(self) -> list[str]:
        return parse_token_list(self.headers.get_all("Require"))

    @property
    def expires(self) -> int | None:
        value = self.headers.get("Expires")
        return None if value is None else parse_uint(value, "Expires", 2**32 - 1)

    def challenges(self, name: str = "WWW-Authenticate") -> list[Challenge]:
        """Every challenge (or credentials) in the named header, one per field."""
        return [parse_challenge(v) for v in self.headers.get_all(name)]

    # -- serialization ---------------------------------------------------------------------

    def start_line(self) -> str:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        lines = [self.start_line()]
        self.headers.serialize_into(lines, skip="content-length")
        lines.append(f"Content-Length: {len(self.body)}")
        lines.append("")
        lines.append("")
        return "\r\n".join(lines).encode("utf-8", "surrogateescape") + self.body

    def __bytes__(self) -> bytes:
        return self.to_bytes()

    def _framing_free(self) -> list[tuple[str, str]]:
        return [kv for kv in self.headers.keys_values() if kv[0] != "content-length"]


class Request(Message):
    """A SIP request."""

    __slots__ = ("method", "uri")

    def __init__(
        self,
        method: str,
        uri: URI | str,
        headers: Headers | Iterable[tuple[str, object]] = (),
        body: bytes = b"",
        version: str = SIP_VERSION,
    ) -> None:
        if not is_token(method):
            raise HeaderValueError(f"invalid method {method!r}")
        self.method = method
        self.uri: URI = parse_uri(uri) if isinstance(uri, str) else uri
        check_header_value(str(self.uri))
        self.headers = _headers_from(headers)
        self.body = bytes(body)
        self.version = version

    def start_line(self) -> str:
        return f"{self.method} {self.uri} {self.version}"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Request):
            return NotImplemented
        return (
            self.method == other.method
            and self.uri == other.uri
            and self.version == other.version
            and self.body == other.body
            and self._framing_free() == other._framing_free()
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri}>"


class Response(Message):
    """A SIP response."""

    __slots__ = ("reason", "status")

    def __init__(
        self,
        status: int,
        reason: str | None = None,
        headers: Headers | Iterable[tuple[str, object]] = (),
        body: bytes = b"",
        version: str = SIP_VERSION,
    ) -> None:
        if not 100 <= status <= 699:
            raise HeaderValueError(f"status {status} out of range")
        self.status = status
        self.reason = REASONS.get(status, "Unknown") if reason is None else reason
        check_header_value(self.reason)
        self.headers = _headers_from(headers)
        self.body = bytes(body)
        self.version = version

    def start_line(self) -> str:
        return f"{self.version} {self.status} {self.reason}"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Response):
            return NotImplemented
        return (
            self.status == other.status
            and self.reason == other.reason
            and self.version == other.version
            and self.body == other.body
            and self._framing_free() == other._framing_free()
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"


def _to_with_tag(raw_to: str, to_tag: str | None) -> str:
    if to_tag is None:
        return raw_to
    if not is_token(to_tag):
        raise HeaderValueError("To tag must be a token")
    if parse_name_addr(raw_to).tag is not None:
        return raw_to
    return f"{raw_to};tag={to_tag}"


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, object]] = (),
    body: bytes = b"",
) -> Response:
    """Build a response to ``request`` (RFC 3261 §8.2.6.2).

    ``to_tag`` is added to To unless it already carries one (never on 100 Trying).
    """
    src = request.headers
    out = Headers()
    out.copy_from(src, "Via")
    out.copy_from(src, "From")
    raw_to = src.get("To")
    if raw_to is not None and to_tag is not None and status != 100:
        out.add_derived("To", _to_with_tag(raw_to, to_tag))
    else:
        out.copy_from(src, "To")
    out.copy_from(src, "Call-ID")
    out.copy_from(src, "CSeq")
    if 100 < status < 300 and request.method in DIALOG_CREATING:
        out.copy_from(src, "Record-Route")
    for name, value in headers:
        out.add(name, value)
    return Response(status, reason, out, body)


def error_response(err: SipParseError) -> Response | None:
    """The answer to a malformed request, or None when it must be dropped."""
    if not err.is_request or err.headers is None:
        return None
    src = err.headers
    vias = src.get_all("Via")
    if not vias:
        return None
    out = Headers()
    for name in ("From", "To", "Call-ID", "CSeq"):
        if src.get(name) is None:
            return None
    try:
        for name in ("Via", "From", "To", "Call-ID", "CSeq"):
            for value in src.get_all(name):
                check_header_value(value)  # nothing that cannot be echoed safely (raw NUL)
            out.copy_from(src, name)
        status = err.status if 300 <= err.status <= 699 else 400
        reason = err.reason if err.reason.isprintable() and len(err.reason) < 120 else None
        return Response(status, reason, out)
    except (HeaderValueError, SipParseError):
        return None


def make_cancel(request: Request) -> Request:
    """CANCEL for a pending INVITE (RFC 3261 §9.1): same URI, top Via, tags and CSeq number."""
    out = Headers()
    request.top_via  # noqa: B018 - raises SipParseError when there is no usable Via
    out.add_derived("Via", request.headers.values("Via")[0])  # byte-identical top Via
    out.copy_from(request.headers, "Route")
    for name in ("From", "To", "Call-ID"):
        out.copy_from(request.headers, name)
    out.add("CSeq", CSeq(request.cseq.seq, "CANCEL"))
    out.add("Max-Forwards", "70")
    return Request("CANCEL", request.uri, out)
