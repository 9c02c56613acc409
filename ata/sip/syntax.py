"""Low-level RFC 3261 §25 grammar helpers shared by the URI and header parsers.

Everything here works on already unfolded header text (the parser replaced each
``CRLF 1*WSP`` fold by a single space). Errors are raised as :class:`SipParseError` (400).
"""

from __future__ import annotations

import re
import string
from typing import Final

from ata.sip.errors import HeaderValueError, SipParseError

TOKEN_CHARS: Final = frozenset(string.ascii_letters + string.digits + "-.!%*_+`'~")
WS: Final = " \t"
# Characters that may never appear in a header value we build (header injection).
FORBIDDEN_IN_VALUE: Final = frozenset("\r\n\x00")

Params = dict[str, str | None]
TOKEN_RE: Final = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")
_PARAM_VALUE_RE: Final = re.compile(r"[A-Za-z0-9\-.!%*_+`'~:]+\Z")
# CR and LF always; NUL unless escaped as a quoted-pair (backslash NUL is legal inside a
# quoted string, RFC 3261 section 25.1; RFC 4475 3.1.1.2 uses it).
_FORBIDDEN_RE: Final = re.compile(r"[\r\n]|(?<!\\)\x00")


def is_token(text: str) -> bool:
    """True when ``text`` is a non-empty RFC 3261 token."""
    return TOKEN_RE.match(text) is not None


def quote(text: str) -> str:
    """Return ``text`` as a quoted-string, escaping backslash and double quote."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unquote(text: str) -> str:
    """Inverse of :func:`quote` for a value that may or may not be quoted."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        inner = text[1:-1]
        if "\\" not in inner:
            return inner
        out: list[str] = []
        i = 0
        while i < len(inner):
            c = inner[i]
            if c == "\\" and i + 1 < len(inner):
                out.append(inner[i + 1])
                i += 2
                continue
            out.append(c)
            i += 1
        return "".join(out)
    return text


def end_of_quoted(text: str, start: int) -> int:
    """Index just past the quoted-string opening at ``text[start] == '"'``."""
    i = start + 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i + 1
        i += 1
    raise SipParseError("unterminated quoted string")


def split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside quoted strings and ``<...>``; elements are stripped.

    Empty elements are kept (callers decide whether ``a,,b`` is an error).
    """
    if '"' not in text and "<" not in text:
        return [part.strip(WS) for part in text.split(sep)]
    parts: list[str] = []
    i = 0
    start = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == '"':
            i = end_of_quoted(text, i)
            continue
        if c == "<":
            close = text.find(">", i)
            if close < 0:
                raise SipParseError("unbalanced '<'")
            i = close + 1
            continue
        if c == sep:
            parts.append(text[start:i].strip(WS))
            start = i + 1
        i += 1
    parts.append(text[start:].strip(WS))
    return parts


def parse_params(text: str, *, allow_empty_value: bool = True) -> Params:
    """Parse ``;name[=value]`` generic parameters (``text`` starts at the first ``;``).

    Names are lower-cased (parameter names are case-insensitive); values are kept raw
    (a quoted value keeps its quotes). LWS around ``;`` and ``=`` is allowed.
    """
    params: Params = {}
    text = text.strip(WS)
    if not text:
        return params
    if text[0] != ";":
        raise SipParseError(f"expected ';' before parameters: {text[:40]!r}")
    for item in split_top(text[1:], ";"):
        if not item:
            raise SipParseError("empty parameter")
        name, eq, value = item.partition("=")
        name = name.strip(WS)
        if not is_token(name):
            raise SipParseError(f"bad parameter name {name[:40]!r}")
        if eq:
            value = value.strip(WS)
            if not value:
                if not allow_empty_value:
                    raise SipParseError(f"empty value for parameter {name!r}")
                params[name.lower()] = ""
                continue
            if value[0] == '"':
                if end_of_quoted(value, 0) != len(value):
                    raise SipParseError(f"junk after quoted value of {name!r}")
            elif value[0] == "[":
                if not value.endswith("]") or any(c in WS for c in value):
                    raise SipParseError(f"bad value for parameter {name!r}")
            elif _PARAM_VALUE_RE.match(value) is None:
                raise SipParseError(f"bad value for parameter {name!r}")
            params[name.lower()] = value
        else:
            params[name.lower()] = None
    return params


def format_params(params: Params) -> str:
    """Serialize generic parameters as ``;a=b;c``."""
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


def check_header_value(value: str) -> None:
    """Raise :class:`HeaderValueError` if ``value`` could inject a header or a body."""
    if _FORBIDDEN_RE.search(value) is not None:
        raise HeaderValueError("header value contains CR, LF or NUL")
    try:
        value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        raise HeaderValueError("header value is not encodable as UTF-8") from exc
