"""Named value checks that a type annotation cannot express, referenced from the schema.

A schema field carries ``Meta(extra={"check": NAME})``; :data:`CHECKS` maps the name to a
function returning ``None`` when the value is fine, or the reason it is not (without echoing
secrets). Each check is cheap and pure.

The dial plan check is deliberately basic (allowed characters, balanced brackets): the full Cisco
SPA grammar lives with the line state machine (``ata.line.dialplan``); the runtime parses the
plan there when it applies the config, and a caller may pass that parser to
:func:`provisioning.validate.validate_data` (and ``load_config``, ``parse_profile``,
``Provisioner``, the web admin) through ``dial_plan_parser``; ``ata config check`` does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

_HOSTNAME: Final = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)
_IPV4: Final = re.compile(
    r"^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$"
)
_IPV6_BRACKET: Final = re.compile(r"^\[[0-9A-Fa-f:.]{2,45}\]$")
_SIP_USER: Final = re.compile(r"^[A-Za-z0-9\-_.!~*'()&=+$,;?/%]*$")
_TIMEZONE: Final = re.compile(r"^(?:UTC|[A-Za-z_]+(?:/[A-Za-z0-9_+\-]+){0,2}|Etc/GMT[+-]\d{1,2})$")
_HHMM: Final = re.compile(r"^(?:[01]\d|2[0-3])[0-5]\d$")
_NUM: Final = r"(?:\d+(?:\.\d*)?|\.\d+)"
_TIME: Final = rf"(?:\*|{_NUM})"
_CADENCE_SECTION: Final = rf"{_TIME}\({_TIME}/{_TIME}(?:,{_TIME}/{_TIME})*\)"
_CADENCE: Final = re.compile(rf"^{_CADENCE_SECTION}(?:;{_CADENCE_SECTION})*$")
_FREQ: Final = rf"\d{{2,4}}@-?{_NUM}"
_TONE_SEGMENT: Final = rf"{_TIME}/{_TIME}/\d(?:\+\d)*"
_TONE_SECTION: Final = rf"{_TIME}\({_TONE_SEGMENT}(?:,{_TONE_SEGMENT})*\)"
_TONESCRIPT: Final = re.compile(rf"^{_FREQ}(?:,{_FREQ}){{0,5}}(?:;{_TONE_SECTION})+$")
_DIAL_PLAN_CHARS: Final = frozenset("0123456789*#xX.[]-()<>:|!,@ SLPsl\t") | frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+_="
)
_PAIRS: Final = {")": "(", "]": "[", ">": "<"}


def check_host_port(value: object) -> str | None:
    """``host``, ``host:port``, ``a.b.c.d[:port]``, ``[v6][:port]``, or empty."""
    if not isinstance(value, str) or value == "":
        return None
    host, port = value, ""
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return "unclosed '[' in IPv6 address"
        host, rest = value[: end + 1], value[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                return "expected ':port' after ']'"
            port = rest[1:]
        if not _IPV6_BRACKET.match(host):
            return f"not an IPv6 address: {host!r}"
    elif ":" in value:
        host, port = value.rsplit(":", 1)
    if value.lower().startswith(("sip:", "sips:", "http")):
        return "give host[:port] without a URI scheme"
    if not host.startswith("[") and not (_IPV4.match(host) or _HOSTNAME.match(host)):
        return f"not a host name or IP address: {host!r}"
    if port and (not port.isdigit() or not 1 <= int(port) <= 65535):
        return f"port must be 1..65535, got {port!r}"
    return None


def check_sip_user(value: object) -> str | None:
    if isinstance(value, str) and not _SIP_USER.match(value):
        return "may contain only letters, digits and -_.!~*'()&=+$,;?/% (no spaces, ':' or '@')"
    return None


def check_abs_path_or_empty(value: object) -> str | None:
    if isinstance(value, str) and value and (not value.startswith("/") or "\x00" in value):
        return "must be an absolute path (or empty)"
    return None


def check_timezone(value: object) -> str | None:
    if isinstance(value, str) and not _TIMEZONE.match(value):
        return f"not an IANA time zone name like 'Europe/Berlin': {value!r}"
    return None


def check_unique(value: object) -> str | None:
    if isinstance(value, list) and len({repr(v) for v in value}) != len(value):
        return "entries must not repeat"
    return None


def check_hhmm(value: object) -> str | None:
    if isinstance(value, str) and value and not _HHMM.match(value):
        return f"must be HHmm (0000..2359) or empty, got {value!r}"
    return None


def check_cadence(value: object) -> str | None:
    if isinstance(value, str) and not _CADENCE.match(value.replace(" ", "")):
        return f"must be a ToneScript cadence like '60(2/4)' or '60(.8/.4,.8/4)', got {value!r}"
    return None


def check_tonescript(value: object) -> str | None:
    if isinstance(value, str) and value and not _TONESCRIPT.match(value.replace(" ", "")):
        return (
            "must be a ToneScript like '350@-19,440@-19;10(*/0/1+2)' "
            f"(or empty for the country default), got {value!r}"
        )
    return None


def check_dial_plan(value: object) -> str | None:
    """Basic shape of a Cisco SPA dial plan: allowed characters and balanced brackets."""
    if not isinstance(value, str):
        return None
    bad = sorted({c for c in value if c not in _DIAL_PLAN_CHARS})
    if bad:
        return f"character(s) {''.join(bad)!r} not allowed in a dial plan"
    stack: list[str] = []
    for index, char in enumerate(value):
        if char in "([<":
            if char != "(" and stack and stack[-1] in "[<":
                return f"'{char}' nested inside '{stack[-1]}' at column {index + 1}"
            stack.append(char)
        elif char in _PAIRS:
            if not stack or stack[-1] != _PAIRS[char]:
                return f"unbalanced '{char}' at column {index + 1}"
            stack.pop()
    if stack:
        return f"unclosed '{stack[-1]}'"
    return None


def check_profile_rule(value: object) -> str | None:
    from provisioning.profile_rule import ProfileRuleError, parse_profile_rule

    if not isinstance(value, str):
        return None
    try:
        parse_profile_rule(value)
    except ProfileRuleError as exc:
        return str(exc)
    return None


def check_password_hash(value: object) -> str | None:
    if isinstance(value, str) and value:
        parts = value.split("$")
        if len(parts) != 6 or parts[0] != "scrypt" or not all(p.isdigit() for p in parts[1:4]):
            return "must be an 'scrypt$N$r$p$salt$hash' string or empty"
    return None


CHECKS: Final[dict[str, Callable[[object], str | None]]] = {
    "host_port": check_host_port,
    "sip_user": check_sip_user,
    "abs_path_or_empty": check_abs_path_or_empty,
    "timezone": check_timezone,
    "unique": check_unique,
    "hhmm": check_hhmm,
    "cadence": check_cadence,
    "tonescript": check_tonescript,
    "dial_plan": check_dial_plan,
    "profile_rule": check_profile_rule,
    "password_hash": check_password_hash,
}
