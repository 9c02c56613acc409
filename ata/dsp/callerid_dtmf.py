"""DTMF CLIP (ETSI EN 300 659-1 Annex / ES 200 778 variants): caller ID sent as DTMF digits.

Theory of operation
-------------------
The exchange sends the number as DTMF digits framed by letters, before the first ring (after a
polarity reversal). The framing differs by country; :class:`DtmfFraming` names the four forms
seen in the field (as documented by spandsp's ``adsi.h`` and Asterisk's ``callerid.c``):

- ``A_C``  ``A<number>C`` (absent: ``B00C`` unavailable, ``B10C`` private); also carries a
  redirecting number as ``D<number>`` before ``C``. Belgium, Brazil, Finland, Iceland, India,
  Netherlands, Saudi Arabia, Sweden, Uruguay, Denmark (new exchanges).
- ``A_HASH`` ``A<number>#`` (absent: ``D1#`` private, ``D2#`` international, ``D3#``
  unavailable). Denmark.
- ``D_C``  ``D<number>C``. Taiwan, Kuwait.
- ``HASH`` ``<number>#`` (no start code). Denmark and Netherlands, older exchanges.

:func:`encode_dtmf_clip` turns a number (or an absence reason 'O'/'P') into the digit string and
:func:`render_dtmf_clip` into audio (70 ms tones, 70 ms gaps by default, from
:class:`ata.dsp.dtmf.DtmfGenerator`). :func:`parse_dtmf_clip` accepts any of the framings and
returns a :class:`~ata.dsp.callerid.CallerIdMessage`; :func:`decode_dtmf_clip` runs
:func:`ata.dsp.dtmf.decode_digits` on audio first.
"""

from __future__ import annotations

from enum import Enum
from typing import Final

import numpy.typing as npt

from ata.dsp.callerid import CallerIdError, CallerIdMessage, MessageType
from ata.dsp.dtmf import DtmfGenerator, decode_digits
from ata.dsp.levels import Samples


class DtmfFraming(Enum):
    A_C = "a_c"
    A_HASH = "a_hash"
    D_C = "d_c"
    HASH = "hash"


COUNTRY_FRAMING: Final[dict[str, DtmfFraming]] = {
    "be": DtmfFraming.A_C,
    "br": DtmfFraming.A_C,
    "fi": DtmfFraming.A_C,
    "is": DtmfFraming.A_C,
    "in": DtmfFraming.A_C,
    "nl": DtmfFraming.A_C,
    "sa": DtmfFraming.A_C,
    "se": DtmfFraming.A_C,
    "uy": DtmfFraming.A_C,
    "dk": DtmfFraming.A_HASH,
    "tw": DtmfFraming.D_C,
    "kw": DtmfFraming.D_C,
}

DEFAULT_ON_MS: Final = 70.0
DEFAULT_OFF_MS: Final = 70.0
DEFAULT_LEVEL_DBM0: Final = -9.0  # per low-group tone; high group +2 dB (Q.23 practice)


def encode_dtmf_clip(
    number: str | None,
    framing: DtmfFraming = DtmfFraming.A_C,
    *,
    absent: str | None = None,
    redirecting: str | None = None,
) -> str:
    """The DTMF digit string for a number or an absence reason ('O' unavailable, 'P' private)."""
    if number is not None:
        if not number or not all(c.isdigit() or c in "*" for c in number) or len(number) > 20:
            raise CallerIdError(f"DTMF CLIP number must be 1..20 digits, got {number!r}")
    elif absent not in ("O", "P"):
        raise CallerIdError("DTMF CLIP needs a number or an absence reason 'O'/'P'")
    if redirecting is not None and (framing is not DtmfFraming.A_C or not redirecting.isdigit()):
        raise CallerIdError("a redirecting number needs the A..C framing and digits only")
    if framing is DtmfFraming.A_C:
        if number is None:
            return "B00C" if absent == "O" else "B10C"
        return f"A{number}" + (f"D{redirecting}" if redirecting else "") + "C"
    if framing is DtmfFraming.A_HASH:
        if number is None:
            return "D3#" if absent == "O" else "D1#"
        return f"A{number}#"
    if number is None:
        raise CallerIdError(f"framing {framing.value} cannot carry an absence reason")
    if framing is DtmfFraming.D_C:
        return f"D{number}C"
    return f"{number}#"


def dtmf_clip_for_call(number: str, withheld: str, framing: DtmfFraming = DtmfFraming.A_C) -> str:
    """The DTMF CLIP string for what signalling gave (never raises): digits only, at most 20;
    no digits → absence ('P' for "private", else 'O'), or an empty string when the framing
    cannot say "absent" (then send nothing)."""
    digits = "".join(c for c in number if c.isascii() and c.isdigit())[:20]
    if digits:
        return encode_dtmf_clip(digits, framing)
    if framing in (DtmfFraming.A_C, DtmfFraming.A_HASH):
        return encode_dtmf_clip(None, framing, absent="P" if withheld == "private" else "O")
    return ""


def render_dtmf_clip(
    digits: str,
    *,
    level_dbm0: float = DEFAULT_LEVEL_DBM0,
    on_ms: float = DEFAULT_ON_MS,
    off_ms: float = DEFAULT_OFF_MS,
) -> Samples:
    """Audio for a DTMF CLIP digit string."""
    gen = DtmfGenerator(level_dbm0=level_dbm0, on_ms=on_ms, off_ms=off_ms)
    return gen.render(digits)


def parse_dtmf_clip(digits: str) -> CallerIdMessage:
    """Decode a received DTMF CLIP string in any of the framings; CallerIdError if malformed."""
    s = digits.upper()
    if not s:
        raise CallerIdError("no DTMF digits")
    dtmf_type = MessageType.MDMF_CALLER_ID
    if s.endswith("#"):
        body = s[:-1]
        if body.startswith("D") and len(body) == 2 and body[1] in "123":
            return CallerIdMessage(dtmf_type, number_absent="P" if body[1] == "1" else "O")
        if body.startswith("A"):
            body = body[1:]
        if not body.isdigit():
            raise CallerIdError(f"bad DTMF CLIP string {digits!r}")
        return CallerIdMessage(dtmf_type, number=body)
    if not s.endswith("C"):
        raise CallerIdError(f"DTMF CLIP string not terminated by C or #: {digits!r}")
    body = s[:-1]
    if body.startswith("B"):
        code = body[1:]
        if code == "00":
            return CallerIdMessage(dtmf_type, number_absent="O")
        if code == "10":
            return CallerIdMessage(dtmf_type, number_absent="P")
        raise CallerIdError(f"unknown DTMF CLIP absence code {code!r}")
    if body[:1] not in ("A", "D"):
        raise CallerIdError(f"DTMF CLIP string must start with A, B or D: {digits!r}")
    start = body[0]
    rest = body[1:]
    number, redirect = rest, None
    if start == "A" and "D" in rest:
        number, redirect = rest.split("D", 1)
    if not number.isdigit() or (redirect is not None and not redirect.isdigit()):
        raise CallerIdError(f"bad DTMF CLIP number in {digits!r}")
    extra = ((0x03, redirect.encode("ascii")),) if redirect else ()
    return CallerIdMessage(dtmf_type, number=number, extra=extra)


def decode_dtmf_clip(samples: npt.ArrayLike) -> tuple[str, CallerIdMessage | None]:
    """Detect DTMF digits in audio and parse them; returns (digits, message or None)."""
    digits = decode_digits(samples)
    try:
        return digits, parse_dtmf_clip(digits)
    except CallerIdError:
        return digits, None
