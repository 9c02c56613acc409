"""Typed SIP header values: parse from unfolded text, ``str()`` back to header text.

* :class:`NameAddr` — From, To, Contact, Route, Record-Route, P-Asserted-Identity,
  Refer-To elements: ``"Display" <uri>;params`` or the bare addr-spec form.
* :class:`Via` — sent-protocol, sent-by and params (branch, received, rport, maddr).
* :class:`CSeq`, :class:`ContentType`, :class:`Challenge` (WWW-/Proxy-Authenticate and
  Authorization credentials as a scheme plus a param dict).

Every ``parse_*`` raises :class:`SipParseError` (status 400) on malformed input and never
anything else. Parameters are stored raw (quoted values keep their quotes), names lower-cased.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from ata.sip.errors import SipParseError
from ata.sip.syntax import (
    WS,
    Params,
    end_of_quoted,
    format_params,
    is_token,
    parse_params,
    quote,
    split_top,
    unquote,
)
from ata.sip.uri import URI, SipURI, parse_uri

MAGIC_COOKIE: Final = "z9hG4bK"
MAX_CSEQ: Final = 2**32 - 1

# ---------------------------------------------------------------------------------------------
# name-addr / addr-spec


@dataclass
class NameAddr:
    """``display-name <uri> ;params`` (display name decoded, params raw)."""

    uri: URI
    display_name: str | None = None
    params: Params = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    @property
    def expires(self) -> int | None:
        """Contact ``expires`` parameter (None when absent or malformed)."""
        value = self.params.get("expires")
        if value is None or not value.isdigit() or not value.isascii():
            return None
        return min(int(value), MAX_CSEQ)

    @property
    def q(self) -> float | None:
        value = self.params.get("q")
        try:
            return None if value is None else float(value)
        except ValueError:
            return None

    def with_tag(self, tag: str) -> NameAddr:
        params = dict(self.params)
        params["tag"] = tag
        return NameAddr(self.uri, self.display_name, params)

    def __str__(self) -> str:
        head = f"{quote(self.display_name)} " if self.display_name else ""
        return f"{head}<{self.uri}>{format_params(self.params)}"


def parse_name_addr(text: str) -> NameAddr:
    """Parse one name-addr or addr-spec with its header parameters."""
    text = text.strip(WS)
    if not text:
        raise SipParseError("empty address")
    display: str | None = None
    if text[0] == '"':
        end = end_of_quoted(text, 0)
        display = unquote(text[:end])
        rest = text[end:].lstrip(WS)
        if not rest.startswith("<"):
            raise SipParseError("quoted display name without <uri>")
        text = rest
        lt = 0
    else:
        lt = text.find("<")
    if lt >= 0:
        if lt > 0:
            words = text[:lt].split()
            if not all(is_token(w) for w in words):
                raise SipParseError("bad display name")
            display = " ".join(words) or None
        gt = text.find(">", lt)
        if gt < 0:
            raise SipParseError("unbalanced '<'")
        uri = parse_uri(text[lt + 1 : gt])
        params = parse_params(text[gt + 1 :])
        return NameAddr(uri, display, params)
    semi = text.find(";")
    uri_text = text if semi < 0 else text[:semi]
    uri_text = uri_text.rstrip(WS)
    if any(c in uri_text for c in "?, >"):
        raise SipParseError("addr-spec with '?', ',' or '>' must use <...>")
    uri = parse_uri(uri_text)
    params = parse_params(text[semi:]) if semi >= 0 else {}
    return NameAddr(uri, None, params)


def parse_name_addr_list(values: list[str]) -> list[NameAddr]:
    """Parse comma-separated name-addr lists spread over several header lines."""
    out: list[NameAddr] = []
    for value in values:
        for part in split_top(value, ","):
            if not part:
                raise SipParseError("empty element in address list")
            out.append(parse_name_addr(part))
    return out


# ---------------------------------------------------------------------------------------------
# Via

_VIA_RE: Final = re.compile(
    r"[ \t]*([^ \t/]+)[ \t]*/[ \t]*([^ \t/]+)[ \t]*/[ \t]*([^ \t/]+)[ \t]+"
    r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+)(?:[ \t]*:[ \t]*([0-9]{1,5}))?[ \t]*\Z"
)


@dataclass
class Via:
    """One Via element: ``SIP/2.0/UDP host:port;branch=...``."""

    transport: str
    host: str
    port: int | None = None
    params: Params = field(default_factory=dict)
    protocol: str = "SIP/2.0"

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        return self.params.get("received")

    @property
    def has_rport(self) -> bool:
        return "rport" in self.params

    @property
    def rport(self) -> int | None:
        value = self.params.get("rport")
        if value and value.isdigit() and value.isascii() and int(value) <= 65535:
            return int(value)
        return None

    @property
    def maddr(self) -> str | None:
        return self.params.get("maddr")

    @property
    def sent_by(self) -> tuple[str, int | None]:
        return self.host, self.port

    @property
    def rfc3261_branch(self) -> bool:
        """True when the branch carries the magic cookie and something after it."""
        b = self.branch
        return b is not None and len(b) > len(MAGIC_COOKIE) and b.startswith(MAGIC_COOKIE)

    def __str__(self) -> str:
        port = "" if self.port is None else f":{self.port}"
        return f"{self.protocol}/{self.transport} {self.host}{port}{format_params(self.params)}"


def parse_via(text: str) -> Via:
    semi = text.find(";")
    head = text if semi < 0 else text[:semi]
    m = _VIA_RE.match(head)
    if m is None:
        raise SipParseError("malformed Via")
    name, version, transport, host, port_text = m.groups()
    if not (is_token(name) and is_token(version) and is_token(transport)):
        raise SipParseError("malformed Via protocol")
    port = None
    if port_text is not None:
        port = int(port_text)
        if port > 65535:
            raise SipParseError("Via port out of range")
    params = parse_params(text[semi:]) if semi >= 0 else {}
    return Via(transport.upper(), host, port, params, f"{name.upper()}/{version}")


def parse_via_list(values: list[str]) -> list[Via]:
    out: list[Via] = []
    for value in values:
        for part in split_top(value, ","):
            if not part:
                raise SipParseError("empty Via element")
            out.append(parse_via(part))
    return out


# ---------------------------------------------------------------------------------------------
# CSeq, Content-Type, numbers, token lists


@dataclass(frozen=True)
class CSeq:
    seq: int
    method: str

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


def parse_cseq(text: str) -> CSeq:
    parts = text.split()
    if len(parts) != 2:
        raise SipParseError("malformed CSeq")
    number, method = parts
    if not number.isdigit() or not number.isascii() or len(number) > 10 or not is_token(method):
        raise SipParseError("malformed CSeq")
    seq = int(number)
    if seq > MAX_CSEQ:
        raise SipParseError("CSeq out of range")
    return CSeq(seq, method)


def parse_uint(text: str, what: str, maximum: int) -> int:
    text = text.strip(WS)
    if not text.isdigit() or not text.isascii() or len(text) > 12:
        raise SipParseError(f"malformed {what}")
    value = int(text)
    if value > maximum:
        raise SipParseError(f"{what} out of range")
    return value


@dataclass
class ContentType:
    type: str
    subtype: str
    params: Params = field(default_factory=dict)

    @property
    def mime(self) -> str:
        return f"{self.type}/{self.subtype}".lower()

    def __str__(self) -> str:
        return f"{self.type}/{self.subtype}{format_params(self.params)}"


def parse_content_type(text: str) -> ContentType:
    semi = text.find(";")
    head = text if semi < 0 else text[:semi]
    mtype, slash, sub = head.partition("/")
    mtype, sub = mtype.strip(WS), sub.strip(WS)
    if not slash or not is_token(mtype) or not is_token(sub):
        raise SipParseError("malformed Content-Type")
    params = parse_params(text[semi:]) if semi >= 0 else {}
    return ContentType(mtype, sub, params)


def parse_token_list(values: list[str]) -> list[str]:
    """Allow / Supported / Require ...: list of tokens (empty elements skipped)."""
    out: list[str] = []
    for value in values:
        for part in value.split(","):
            token = part.strip(WS)
            if not token:
                continue
            if not is_token(token):
                raise SipParseError(f"bad token {token[:40]!r}")
            out.append(token)
    return out


# ---------------------------------------------------------------------------------------------
# WWW-Authenticate / Proxy-Authenticate / Authorization


@dataclass
class Challenge:
    """An authentication challenge or credentials: scheme plus unquoted parameters.

    ``params`` keys are lower-cased; values unquoted. ``raw_quoted`` records which values
    were quoted on the wire (qop in a challenge is quoted, in credentials it is not).
    """

    scheme: str
    params: dict[str, str] = field(default_factory=dict)
    raw_quoted: frozenset[str] = frozenset()

    def __str__(self) -> str:
        items = [
            f"{k}={quote(v)}" if k in self.raw_quoted else f"{k}={v}"
            for k, v in self.params.items()
        ]
        return f"{self.scheme} " + ", ".join(items)


def parse_challenge(text: str) -> Challenge:
    """Parse ``Digest realm="x", nonce="y", qop="auth"`` (also Authorization values)."""
    text = text.strip(WS)
    scheme, _, rest = text.partition(" ")
    if not is_token(scheme):
        raise SipParseError("bad auth scheme")
    params: dict[str, str] = {}
    quoted: set[str] = set()
    for item in split_top(rest, ","):
        if not item:
            continue
        name, eq, value = item.partition("=")
        name = name.strip(WS).lower()
        value = value.strip(WS)
        if not eq or not is_token(name):
            raise SipParseError("malformed auth-param")
        if value.startswith('"'):
            if end_of_quoted(value, 0) != len(value):
                raise SipParseError("junk after quoted auth-param")
            quoted.add(name)
            params[name] = unquote(value)
        else:
            if not value or any(c in WS or c == '"' for c in value):
                raise SipParseError("malformed auth-param value")
            params[name] = value
    return Challenge(scheme, params, frozenset(quoted))


def first_sip_uri(addr: NameAddr) -> SipURI | None:
    return addr.uri if isinstance(addr.uri, SipURI) else None
