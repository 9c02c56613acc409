"""Call transfer pieces (RFC 3515 REFER, RFC 3891 Replaces, RFC 3892 Referred-By), pure.

Theory of operation
-------------------
A transfer is asked for with an in-dialog REFER whose ``Refer-To`` names the target. For an
attended transfer the target URI carries an escaped ``Replaces`` header
(``<sip:bob@h?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>``) naming the dialog the new call
replaces at the target. :func:`parse_refer_to` splits the header into the Request-URI of the
new INVITE (URI headers removed) and the headers the new INVITE carries (only ``Replaces``:
other URI headers are not copied — a REFER must not make us send arbitrary headers).

The referee reports progress in NOTIFYs of the implicit ``refer`` subscription with a
``message/sipfrag`` body (a status line): :func:`sipfrag` builds one, :func:`sipfrag_status`
reads one. :class:`ReferError` carries the status that answers a REFER we cannot act on.
"""

from __future__ import annotations

from typing import Final

from ata.sip.errors import SipParseError
from ata.sip.headers import NameAddr, parse_name_addr
from ata.sip.message import Request
from ata.sip.syntax import split_top
from ata.sip.uri import SipURI, unescape

SIPFRAG: Final = "message/sipfrag;version=2.0"
MAX_SIPFRAG: Final = 1024


class ReferError(Exception):
    """A REFER we refuse; ``status`` is the response to send."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def parse_refer_to(req: Request) -> tuple[SipURI, list[tuple[str, object]]]:
    """(target URI without headers, headers for the new INVITE) of a REFER.

    Raises :class:`ReferError` 400 when there is not exactly one Refer-To, or it is not a
    SIP(S) URI, or its Replaces is malformed."""
    try:
        values = [v for raw in req.headers.get_all("Refer-To") for v in split_top(raw, ",")]
    except SipParseError as exc:
        raise ReferError(400, "Malformed Refer-To") from exc
    if len(values) != 1:
        raise ReferError(400, "Exactly one Refer-To required")
    try:
        target = parse_name_addr(values[0]).uri
    except SipParseError as exc:
        raise ReferError(400, "Malformed Refer-To") from exc
    if not isinstance(target, SipURI):
        raise ReferError(400, "Refer-To must be a SIP URI")
    headers: list[tuple[str, object]] = []
    for name, value in target.headers:
        if unescape(name).lower() == "replaces":
            replaces = unescape(value)
            call_id, *params = replaces.split(";")
            keys = {p.split("=", 1)[0].strip().lower() for p in params}
            if not call_id.strip() or not {"to-tag", "from-tag"} <= keys:
                raise ReferError(400, "Malformed Replaces in Refer-To")
            headers.append(("Replaces", replaces))
    uri = target.copy()
    uri.headers = []
    uri.params.pop("method", None)
    return uri, headers


def referred_by(req: Request, referrer: NameAddr) -> str:
    """The Referred-By for the new INVITE: the REFER's own, else the referrer's identity."""
    given = req.headers.get("Referred-By")
    if given:
        return given
    return str(NameAddr(referrer.uri, referrer.display_name))


def replaces_value(call_id: str, to_tag: str, from_tag: str) -> str:
    """A Replaces header value (RFC 3891) for a dialog at the transfer target."""
    return f"{call_id};to-tag={to_tag};from-tag={from_tag}"


def refer_to_with_replaces(target: SipURI, replaces: str) -> str:
    """``<target?Replaces=...>`` with the value escaped for a URI header."""
    escaped = "".join(
        c if c.isalnum() or c in "-_.!~*'()[]/?:+$" else "".join(f"%{b:02X}" for b in c.encode())
        for c in replaces
    )
    uri = target.copy()
    uri.headers = [("Replaces", escaped)]
    return f"<{uri}>"


def parse_replaces(value: str) -> tuple[str, str, str, bool] | None:
    """(Call-ID, to-tag, from-tag, early-only) of a Replaces header, else None. The to-tag is
    the *receiver's* local tag of the dialog to replace, the from-tag the other party's."""
    call_id, *params = [p.strip() for p in value.split(";")]
    found: dict[str, str] = {}
    early_only = False
    for param in params:
        name, sep, val = param.partition("=")
        name = name.strip().lower()
        if name == "early-only" and not sep:
            early_only = True
        elif name in ("to-tag", "from-tag") and val.strip():
            found[name] = val.strip()
    if not call_id or len(found) != 2:
        return None
    return call_id, found["to-tag"], found["from-tag"], early_only


def sipfrag(status: int, reason: str) -> bytes:
    """A ``message/sipfrag`` body: just the status line."""
    return f"SIP/2.0 {status} {reason}\r\n".encode()


def sipfrag_status(body: bytes) -> int | None:
    """The status code of a sipfrag body's status line, else None."""
    line = body[:MAX_SIPFRAG].split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    parts = line.split(" ", 2)
    if len(parts) < 2 or parts[0].upper() != "SIP/2.0" or not parts[1].isdigit():
        return None
    status = int(parts[1])
    return status if 100 <= status <= 699 else None


def subscription_state(req: Request) -> tuple[str, dict[str, str]]:
    """(state, params) of a Subscription-State header, lower-cased ("" when absent)."""
    raw = req.headers.get("Subscription-State") or ""
    state, *params = [p.strip() for p in raw.split(";")]
    out: dict[str, str] = {}
    for p in params:
        name, _, value = p.partition("=")
        out[name.strip().lower()] = value.strip()
    return state.lower(), out
