"""SIP and absolute URIs (RFC 3261 §19.1, §25.1; RFC 5118 IPv6 references).

``parse_uri(text)`` returns a :class:`SipURI` for ``sip:``/``sips:`` and an
:class:`AbsoluteURI` for any other scheme (``tel:``, ``http:``, unknown ones: the parser accepts
them, the application answers 416 where it needs a SIP URI). Components are kept *as received*
(escaped), so ``str(parse_uri(s))`` re-parses to an equal object; :func:`uri_equivalent`
implements the §19.1.4 comparison, which compares escaped characters decoded.

Building: ``SipURI(host="pbx.example.com", user=escape_user("+1 555"), port=5060,
params={"transport": "tcp"})``; ``str(uri)`` serializes.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import unquote_to_bytes

from ata.sip.errors import SipParseError

_ALNUM: Final = string.ascii_letters + string.digits
_UNRESERVED: Final = _ALNUM + "-_.!~*'()"
_USER_CHARS: Final = frozenset(_UNRESERVED + "%&=+$,;?/")
_USER_RE: Final = re.compile(r"(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|%[0-9A-Fa-f]{2})+\Z")
_PASSWORD_RE: Final = re.compile(r"(?:[A-Za-z0-9\-_.!~*'()&=+$,]|%[0-9A-Fa-f]{2})*\Z")
_PARAM_RE: Final = re.compile(r"(?:[A-Za-z0-9\-_.!~*'()\[\]/:&+$]|%[0-9A-Fa-f]{2})+\Z")
_HEADER_RE: Final = re.compile(r"(?:[A-Za-z0-9\-_.!~*'()\[\]/?:+$]|%[0-9A-Fa-f]{2})*\Z")
_HOST_RE: Final = re.compile(r"[A-Za-z0-9\-.]+\Z")
_IPV6_RE: Final = re.compile(r"[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\Z")
_SCHEME_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*\Z")
_BAD_IN_URI_RE: Final = re.compile(r'[ \t<>"\r\n\x00]')
# Parameters that must match whenever either URI has them (§19.1.4).
_SIGNIFICANT: Final = ("user", "ttl", "method", "maddr", "transport")


def unescape(text: str) -> str:
    """Decode ``%HH`` escapes (UTF-8, undecodable bytes kept as surrogates)."""
    if "%" not in text:
        return text
    return unquote_to_bytes(text).decode("utf-8", "surrogateescape")


def escape_user(text: str) -> str:
    """Escape arbitrary text (e.g. a dialled number) for the user part of a SIP URI."""
    out: list[str] = []
    for ch in text:
        if ch in _USER_CHARS and ch != "%":
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogateescape"))
    return "".join(out)


def _check(pattern: re.Pattern[str], text: str, what: str) -> None:
    if pattern.match(text) is None:
        raise SipParseError(f"invalid characters or escapes in URI {what}")


@dataclass
class SipURI:
    """A ``sip:`` / ``sips:`` URI. ``host`` keeps IPv6 brackets (``[2001:db8::1]``)."""

    host: str
    user: str | None = None
    password: str | None = None
    port: int | None = None
    scheme: str = "sip"
    params: dict[str, str | None] = field(default_factory=dict)
    headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def host_bare(self) -> str:
        """Host without IPv6 brackets (for socket addresses)."""
        if self.host.startswith("[") and self.host.endswith("]"):
            return self.host[1:-1]
        return self.host

    @property
    def user_decoded(self) -> str | None:
        return None if self.user is None else unescape(self.user)

    @property
    def secure(self) -> bool:
        return self.scheme.lower() == "sips"

    @property
    def transport(self) -> str | None:
        value = self.params.get("transport")
        return value.lower() if value else None

    @property
    def lr(self) -> bool:
        return "lr" in self.params

    @property
    def maddr(self) -> str | None:
        return self.params.get("maddr")

    def with_params(self, **params: str | None) -> SipURI:
        """A copy with the given parameters added or replaced."""
        merged = dict(self.params)
        merged.update({k.lower(): v for k, v in params.items()})
        return SipURI(
            self.host, self.user, self.password, self.port, self.scheme, merged, list(self.headers)
        )

    def copy(self) -> SipURI:
        return SipURI(
            self.host,
            self.user,
            self.password,
            self.port,
            self.scheme,
            dict(self.params),
            list(self.headers),
        )

    def __str__(self) -> str:
        parts = [self.scheme, ":"]
        if self.user is not None:
            parts.append(self.user)
            if self.password is not None:
                parts += [":", self.password]
            parts.append("@")
        parts.append(self.host)
        if self.port is not None:
            parts += [":", str(self.port)]
        for key, value in self.params.items():
            parts += [";", key] if value is None else [";", key, "=", value]
        if self.headers:
            parts += ["?", "&".join(f"{k}={v}" for k, v in self.headers)]
        return "".join(parts)


@dataclass
class AbsoluteURI:
    """Any non-SIP URI (``tel:+1555``, ``http://...``, unknown schemes), kept opaque."""

    scheme: str
    opaque: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.opaque}"


URI = SipURI | AbsoluteURI


def _parse_host(hostport: str) -> tuple[str, int | None]:
    if not hostport:
        raise SipParseError("empty host in URI")
    if hostport[0] == "[":
        close = hostport.find("]")
        if close < 0:
            raise SipParseError("unterminated IPv6 reference")
        host = hostport[: close + 1]
        inner = host[1:-1]
        if _IPV6_RE.match(inner) is None:
            raise SipParseError("bad IPv6 reference")
        rest = hostport[close + 1 :]
        if rest and rest[0] != ":":
            raise SipParseError("junk after IPv6 reference")
        port_text = rest[1:] if rest else None
    else:
        host, colon, port_text_raw = hostport.partition(":")
        port_text = port_text_raw if colon else None
        if _HOST_RE.match(host) is None:
            raise SipParseError("bad host in URI")
    port: int | None = None
    if port_text is not None:
        if not port_text.isdigit() or len(port_text) > 5 or not port_text.isascii():
            raise SipParseError("bad port in URI")
        port = int(port_text)
        if port > 65535:
            raise SipParseError("port out of range")
    return host, port


def _parse_sip(scheme: str, rest: str) -> SipURI:
    at = rest.find("@")
    user: str | None = None
    password: str | None = None
    if at >= 0:
        userinfo = rest[:at]
        rest = rest[at + 1 :]
        user_text, colon, pw = userinfo.partition(":")
        if not user_text:
            raise SipParseError("empty user in URI")
        _check(_USER_RE, user_text, "user")
        user = user_text
        if colon:
            _check(_PASSWORD_RE, pw, "password")
            password = pw
    main, qmark, header_text = rest.partition("?")
    if main.startswith("["):
        close = main.find("]")
        semi = main.find(";", close if close >= 0 else 0)
    else:
        semi = main.find(";")
    hostport, param_text = (main, "") if semi < 0 else (main[:semi], main[semi + 1 :])
    host, port = _parse_host(hostport)
    params: dict[str, str | None] = {}
    if semi >= 0:
        for item in param_text.split(";"):
            name, eq, value = item.partition("=")
            if not name:
                raise SipParseError("empty URI parameter")
            _check(_PARAM_RE, name, "parameter")
            if eq:
                _check(_PARAM_RE, value, "parameter")
                params[name.lower()] = value
            else:
                params[name.lower()] = None
    headers: list[tuple[str, str]] = []
    if qmark:
        for item in header_text.split("&"):
            name, eq, value = item.partition("=")
            if not name or not eq:
                raise SipParseError("bad URI header")
            _check(_HEADER_RE, name, "header")
            _check(_HEADER_RE, value, "header")
            headers.append((name, value))
    return SipURI(host, user, password, port, scheme, params, headers)


def parse_uri(text: str) -> URI:
    """Parse a URI; raise :class:`SipParseError` (400) if it is malformed."""
    colon = text.find(":")
    if colon <= 0:
        raise SipParseError("URI without scheme")
    scheme = text[:colon]
    if _SCHEME_RE.match(scheme) is None:
        raise SipParseError("bad URI scheme")
    rest = text[colon + 1 :]
    if not rest or _BAD_IN_URI_RE.search(rest) is not None:
        raise SipParseError("bad characters in URI")
    if scheme.lower() in ("sip", "sips"):
        return _parse_sip(scheme, rest)
    return AbsoluteURI(scheme, rest)


def uri_equivalent(a: URI, b: URI) -> bool:
    """RFC 3261 §19.1.4 URI comparison (escapes decoded, host case-insensitive)."""
    if isinstance(a, AbsoluteURI) or isinstance(b, AbsoluteURI):
        if not (isinstance(a, AbsoluteURI) and isinstance(b, AbsoluteURI)):
            return False
        return a.scheme.lower() == b.scheme.lower() and unescape(a.opaque) == unescape(b.opaque)
    if a.scheme.lower() != b.scheme.lower():
        return False
    if a.user_decoded != b.user_decoded:
        return False
    pa = None if a.password is None else unescape(a.password)
    pb = None if b.password is None else unescape(b.password)
    if pa != pb or a.host.lower() != b.host.lower() or a.port != b.port:
        return False
    ua = {unescape(k).lower(): None if v is None else unescape(v) for k, v in a.params.items()}
    ub = {unescape(k).lower(): None if v is None else unescape(v) for k, v in b.params.items()}
    for key in _SIGNIFICANT:
        if (key in ua or key in ub) and _pval(ua.get(key)) != _pval(ub.get(key)):
            return False
    for key in ua.keys() & ub.keys():
        if _pval(ua[key]) != _pval(ub[key]):
            return False
    ha = {unescape(k).lower(): unescape(v) for k, v in a.headers}
    hb = {unescape(k).lower(): unescape(v) for k, v in b.headers}
    return ha == hb


def _pval(value: str | None) -> str | None:
    return None if value is None else value.lower()
