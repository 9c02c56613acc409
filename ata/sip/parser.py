"""SIP message parser (RFC 3261 §7, §18.3) and a stream framer for TCP/TLS.

``parse_message(data)`` parses one datagram. Leading CRLFs (keep-alives) are skipped; header
lines are unfolded (``CRLF 1*WSP`` becomes one space), names matched case-insensitively with
compact forms; UTF-8 and stray 8-bit bytes survive (``surrogateescape``) so serialization
gives the same bytes back. The body is framed by Content-Length: octets beyond it are ignored
(RFC 3261 §18.3, RFC 4475 3.1.1.8); a Content-Length larger than the datagram, negative,
non-numeric or given twice with different values is a 400.

The header fields the transaction and dialog layers rely on (Via, From, To, Call-ID, CSeq,
Max-Forwards, Contact, Route, Record-Route, Content-Type) are parsed eagerly, so a malformed
one is reported here. Missing mandatory headers are *not* a parse error (the message can
still be classified and answered): :func:`ata.sip.validate.validate_request` reports them.

Every failure raises :class:`SipParseError` carrying the status to answer (400, 505, 513),
``is_request`` and the raw ``headers`` read so far (for :func:`message.error_response`).
Nothing else is ever raised for any input (property-tested with random mutations).

:class:`StreamFramer` cuts whole messages out of a byte stream with bounded buffering;
Content-Length is mandatory on streams and a framing error means "close the connection".
"""

from __future__ import annotations

import re
from typing import Final

from ata.sip.errors import SipFramingError, SipParseError
from ata.sip.fields import Headers, header_key
from ata.sip.message import Message, Request, Response
from ata.sip.syntax import TOKEN_RE
from ata.sip.uri import SipURI, parse_uri

MAX_MESSAGE: Final = 65535
MAX_HEADER_FIELDS: Final = 256
_HEAD_END: Final = re.compile(rb"\r?\n\r?\n")
_VERSION: Final = re.compile(r"SIP/[0-9]{1,3}\.[0-9]{1,3}\Z", re.IGNORECASE)
_STREAM_CL: Final = re.compile(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r?$")
# (header key, accessor) parsed eagerly when the header is present.
_EAGER: Final = (
    ("via", "vias"),
    ("from", "from_"),
    ("to", "to"),
    ("call-id", "call_id"),
    ("cseq", "cseq"),
    ("max-forwards", "max_forwards"),
    ("contact", "contacts"),
    ("route", "routes"),
    ("record-route", "record_routes"),
    ("content-type", "content_type"),
)


def _head_fields(lines: list[str], is_request: bool) -> list[tuple[str, str, str]]:
    fields: list[tuple[str, str, str]] = []
    token = TOKEN_RE.match
    for raw in lines:
        line = raw[:-1] if raw[-1:] == "\r" else raw
        if not line:
            raise SipParseError("empty header line", is_request=is_request)
        first = line[0]
        if first == " " or first == "\t":
            if not fields:
                raise SipParseError("continuation line before any header", is_request=is_request)
            key, name, value = fields[-1]
            more = line.strip(" \t")
            fields[-1] = (key, name, (value + " " + more).strip(" \t"))
            continue
        colon = line.find(":")
        if colon <= 0:
            raise SipParseError("header line without ':'", is_request=is_request)
        name = line[:colon].rstrip(" \t")
        if token(name) is None:
            raise SipParseError("bad header name", is_request=is_request)
        fields.append((header_key(name), name, line[colon + 1 :].strip(" \t")))
        if len(fields) > MAX_HEADER_FIELDS:
            raise SipParseError("too many header fields", 513, is_request=is_request)
    return fields


def _content_length(fields: list[tuple[str, str, str]]) -> int | None:
    values = {v.strip() for k, _, v in fields if k == "content-length"}
    if not values:
        return None
    if len(values) > 1:
        raise SipParseError("conflicting Content-Length values")
    text = values.pop()
    if not text.isdigit() or not text.isascii() or len(text) > 9:
        raise SipParseError("malformed Content-Length")
    return int(text)


def _start_request(line: str, fields: Headers) -> Request:
    parts = line.split(" ")
    if len(parts) != 3 or not all(parts):
        raise SipParseError("malformed request line")
    method, uri_text, version = parts
    if TOKEN_RE.match(method) is None:
        raise SipParseError("malformed method")
    if not _VERSION.match(version):
        raise SipParseError("malformed SIP version")
    if version.upper() != "SIP/2.0":
        raise SipParseError("SIP version not supported", 505)
    uri = parse_uri(uri_text)
    if isinstance(uri, SipURI) and uri.headers:
        raise SipParseError("Request-URI with headers")
    req = Request.__new__(Request)
    req.method = method
    req.uri = uri
    req.version = "SIP/2.0"
    req.headers = fields
    return req


def _start_response(line: str, fields: Headers) -> Response:
    version, _, rest = line.partition(" ")
    code, _, reason = rest.partition(" ")
    if version.upper() != "SIP/2.0":
        raise SipParseError("unsupported SIP version in response")
    if len(code) != 3 or not code.isdigit() or not code.isascii() or code[0] not in "123456":
        raise SipParseError("malformed status code")
    if any(c in "\r\n" for c in reason):
        raise SipParseError("malformed reason phrase")
    resp = Response.__new__(Response)
    resp.status = int(code)
    resp.reason = reason
    resp.version = "SIP/2.0"
    resp.headers = fields
    return resp


def _best_effort_headers(head: bytes, is_request: bool) -> Headers | None:
    """Header fields of an unterminated header section, to answer it with a 400."""
    lines = head.decode("utf-8", "surrogateescape").split("\n")
    while lines and lines[-1] in ("", "\r"):
        lines.pop()
    try:
        return Headers._trusted(_head_fields(lines[1:], is_request))
    except SipParseError:
        return None


_RAW_NUL = re.compile(r"(?<!\\)\x00")


def parse_message(data: bytes, *, max_size: int = MAX_MESSAGE) -> Request | Response:
    """Parse one SIP message from a datagram (or from a frame cut by :class:`StreamFramer`)."""
    skip = 0
    n = len(data)
    while skip < n and data[skip] in (13, 10):
        skip += 1
    is_request = not data[skip : skip + 4].upper().startswith(b"SIP/")
    if n > max_size:
        raise SipParseError("message too large", 513, is_request=is_request)
    match = _HEAD_END.search(data, skip)
    if match is None:
        err = SipParseError("no end of header section", is_request=is_request)
        err.headers = _best_effort_headers(data[skip:], is_request)
        raise err
    text = data[skip : match.start()].decode("utf-8", "surrogateescape")
    if text.count("\r") != text.count("\r\n"):
        raise SipParseError("bare CR in header section", is_request=is_request)
    lines = text.split("\n")
    fields = _head_fields(lines[1:], is_request)
    headers = Headers._trusted(fields)
    if _RAW_NUL.search(text):
        # A NUL outside a quoted-pair is invalid and can never be echoed back (Call-ID, tags):
        # 400 when the essential headers are clean, else no answer can be built: dropped.
        raise SipParseError(
            "NUL byte in the header section", is_request=is_request, headers=headers
        )
    start = lines[0][:-1] if lines[0].endswith("\r") else lines[0]
    try:
        length = _content_length(fields)
        body_start = match.end()
        if length is None:
            body = data[body_start:]
        else:
            if body_start + length > n:
                raise SipParseError("Content-Length larger than the message")
            body = data[body_start : body_start + length]
        msg: Message
        if is_request:
            msg = _start_request(start, headers)
        else:
            msg = _start_response(start, headers)
        msg.body = body
        present = {f[0] for f in fields}
        for key, attr in _EAGER:
            if key in present:
                getattr(msg, attr)
    except SipParseError as exc:
        exc.is_request = is_request
        exc.headers = headers
        raise
    assert isinstance(msg, Request | Response)  # noqa: S101 - narrowing for mypy
    return msg


class StreamFramer:
    """Cut whole SIP messages out of a TCP/TLS byte stream (bounded buffering).

    ``feed(data)`` appends bytes; ``next_message()`` returns the next complete message bytes
    or None. Leading CRLFs between messages are skipped; each double-CRLF keep-alive ping
    (RFC 5626 §3.5.1) increments ``pings`` so the driver can answer with a single CRLF.
    A :class:`SipFramingError` (no or bad Content-Length, oversize) leaves the framer failed:
    the driver must close the connection.
    """

    def __init__(self, max_message: int = MAX_MESSAGE, max_header: int = 16384) -> None:
        self.max_message = max_message
        self.max_header = max_header
        self.pings = 0
        self.failed = False
        self._buf = bytearray()

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        if self.failed:
            raise SipFramingError("stream already failed")
        self._buf += data

    def _fail(self, reason: str, status: int = 400) -> SipFramingError:
        self.failed = True
        return SipFramingError(reason, status, is_request=True)

    def next_message(self) -> bytes | None:
        if self.failed:
            raise SipFramingError("stream already failed")
        buf = self._buf
        skip = 0
        while skip < len(buf) and buf[skip] in (13, 10):
            skip += 1
        if skip:
            self.pings += bytes(buf[:skip]).count(b"\r\n\r\n")
            del buf[:skip]
        if not buf:
            return None
        match = _HEAD_END.search(buf)
        if match is None:
            if len(buf) > self.max_header:
                raise self._fail("header section too large", 513)
            return None
        if match.end() > self.max_header:
            raise self._fail("header section too large", 513)
        lengths = {m.group(1) for m in _STREAM_CL.finditer(buf, 0, match.start() + 2)}
        if not lengths:
            raise self._fail("Content-Length missing on a stream transport")
        if len(lengths) > 1:
            raise self._fail("conflicting Content-Length values")
        text = lengths.pop()
        if not text.isdigit() or len(text) > 9:
            raise self._fail("malformed Content-Length")
        total = match.end() + int(text)
        if total > self.max_message:
            raise self._fail("message too large", 513)
        if len(buf) < total:
            return None
        out = bytes(buf[:total])
        del buf[:total]
        return out
