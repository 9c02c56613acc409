"""Caller ID messages: Bell/Telcordia SDMF and MDMF, ETSI EN 300 659-3 MDMF, VMWI.

Theory of operation
-------------------
A :class:`CallerIdMessage` is the decoded meaning (date, number, name, absence reasons, message
waiting). :func:`encode_message` lays it out as bytes ``type, length, body…, checksum`` where the
checksum is the two's complement of the mod-256 sum of everything before it;
:func:`parse_message` checks the length and the checksum and turns bytes back into a message,
raising :class:`CallerIdError` (with the reason) on anything malformed.

Message types (GR-30-CORE; EN 300 659-3 uses the same MDMF layout):

- ``0x04`` SDMF caller ID: ``MMDDHHMM`` then the number, or a single 'O'/'P' instead of it;
- ``0x80`` MDMF call set-up: parameters ``(type, length, value)`` — 0x01 date/time, 0x02 number,
  0x04 reason number absent, 0x07 name, 0x08 reason name absent (others kept raw);
- ``0x06`` SDMF message waiting: three bytes 0x42 (on) or 0x6F (off);
- ``0x82`` MDMF message waiting: parameter 0x0B visual indicator, 0xFF on, 0x00 off.

The FSK and DTMF physical layers live in :mod:`ata.dsp.callerid_fsk` and
:mod:`ata.dsp.callerid_dtmf`; timing in :mod:`ata.dsp.callerid_schedule`.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final


class CallerIdError(ValueError):
    """A caller ID message or request that cannot be encoded or decoded (with the reason)."""


class MessageType(IntEnum):
    SDMF_CALLER_ID = 0x04
    SDMF_VMWI = 0x06
    MDMF_CALLER_ID = 0x80
    MDMF_VMWI = 0x82
    MDMF_ADVICE_OF_CHARGE = 0x86
    MDMF_SMS = 0x89


class Param(IntEnum):
    DATE_TIME = 0x01
    NUMBER = 0x02
    CALLED_NUMBER = 0x03
    NUMBER_ABSENT = 0x04
    REDIRECTION = 0x05
    QUALIFIER = 0x06
    NAME = 0x07
    NAME_ABSENT = 0x08
    VISUAL_INDICATOR = 0x0B
    CALL_TYPE = 0x11
    MESSAGE_COUNT = 0x13


# EN 300 659-3 parameter names (and GR-30 MDMF ones where they differ), for display.
PARAM_NAMES: Final[dict[int, str]] = {
    0x01: "date",
    0x02: "number",
    0x03: "called number",
    0x04: "number absent",
    0x05: "redirection",
    0x06: "qualifier",
    0x07: "name",
    0x08: "name absent",
    0x0B: "visual indicator",
    0x0D: "message id",
    0x0E: "last message number",
    0x0F: "complementary date",
    0x10: "complementary number",
    0x11: "call type",
    0x12: "first called number",
    0x13: "messages",
    0x15: "forwarded call type",
    0x16: "calling user type",
    0x1A: "redirecting number",
    0x20: "charge",
    0x21: "additional charge",
    0x23: "call duration",
    0x50: "display information",
    0x55: "service information",
}
ABSENCE_REASONS: Final = {"O": "unavailable", "P": "private"}
_SDMF_VMWI_ON: Final = b"\x42\x42\x42"
_SDMF_VMWI_OFF: Final = b"\x6f\x6f\x6f"
MAX_NUMBER: Final = 20  # ETSI allows 20 digits; SDMF/Bell 10 is customary
MAX_NAME: Final = 50  # ETSI: 50, GR-30: 15


@dataclass(frozen=True)
class CallerIdMessage:
    """The meaning of one caller ID or message-waiting message."""

    type: MessageType = MessageType.MDMF_CALLER_ID
    date: str | None = None  # "MMDDHHMM"
    number: str | None = None
    name: str | None = None
    number_absent: str | None = None  # 'O' unavailable, 'P' private
    name_absent: str | None = None
    vmwi: bool | None = None  # message waiting on/off (types 0x06/0x82)
    message_count: int | None = None
    extra: tuple[tuple[int, bytes], ...] = field(default=())  # other MDMF parameters, raw

    def describe(self) -> list[tuple[str, str]]:
        """Human-readable (field, value) pairs, in a fixed order."""
        rows = [("type", f"0x{int(self.type):02X} {self.type.name}")]
        if self.date is not None:
            rows.append(
                ("date", f"{self.date[0:2]}-{self.date[2:4]} {self.date[4:6]}:{self.date[6:8]}")
            )
        if self.number is not None:
            rows.append(("number", self.number))
        if self.number_absent is not None:
            reason = ABSENCE_REASONS.get(self.number_absent, "?")
            rows.append(("number absent", f"{self.number_absent} ({reason})"))
        if self.name is not None:
            rows.append(("name", self.name))
        if self.name_absent is not None:
            reason = ABSENCE_REASONS.get(self.name_absent, "?")
            rows.append(("name absent", f"{self.name_absent} ({reason})"))
        if self.vmwi is not None:
            rows.append(("message waiting", "on" if self.vmwi else "off"))
        if self.message_count is not None:
            rows.append(("messages", str(self.message_count)))
        for t, v in self.extra:
            label = PARAM_NAMES.get(t, f"param 0x{t:02X}")
            text = v.decode("ascii") if v.isascii() and v.decode("ascii").isprintable() else v.hex()
            rows.append((label, text))
        return rows


def date_field(when: _dt.datetime) -> str:
    """The MMDDHHMM date/time field for a wall-clock time (local time, as the phone shows it)."""
    return f"{when.month:02d}{when.day:02d}{when.hour:02d}{when.minute:02d}"


def checksum(data: bytes) -> int:
    """Two's complement of the mod-256 sum."""
    return (-sum(data)) & 0xFF


def _check_date(date: str) -> bytes:
    if len(date) != 8 or not date.isdigit():
        raise CallerIdError(f"date must be MMDDHHMM digits, got {date!r}")
    mm, dd, hh, mi = int(date[0:2]), int(date[2:4]), int(date[4:6]), int(date[6:8])
    if not (1 <= mm <= 12 and 1 <= dd <= 31 and hh <= 23 and mi <= 59):
        raise CallerIdError(f"date out of range: {date!r}")
    return date.encode("ascii")


def _text(value: str, what: str, limit: int) -> bytes:
    try:
        raw = value.encode("ascii")
    except UnicodeEncodeError as exc:
        raise CallerIdError(f"{what} must be ASCII: {value!r}") from exc
    if not raw:
        raise CallerIdError(f"{what} is empty")
    if len(raw) > limit:
        raise CallerIdError(f"{what} longer than {limit} characters")
    if any(b < 0x20 or b > 0x7E for b in raw):
        raise CallerIdError(f"{what} has control characters")
    return raw


def _absence(value: str, what: str) -> bytes:
    if value not in ABSENCE_REASONS:
        raise CallerIdError(f"{what} reason must be 'O' or 'P', got {value!r}")
    return value.encode("ascii")


def _frame(msg_type: int, body: bytes) -> bytes:
    if len(body) > 255:
        raise CallerIdError("message body longer than 255 bytes")
    head = bytes([msg_type, len(body)]) + body
    return head + bytes([checksum(head)])


def encode_message(msg: CallerIdMessage) -> bytes:
    """Lay out ``msg`` as ``type, length, body, checksum`` bytes."""
    t = msg.type
    if t is MessageType.SDMF_CALLER_ID:
        date = _check_date(msg.date) if msg.date is not None else b"01010000"
        if msg.number is not None:
            num = _text(msg.number, "number", 10)
        elif msg.number_absent is not None:
            num = _absence(msg.number_absent, "number absent")
        else:
            raise CallerIdError("SDMF needs a number or a number-absent reason")
        return _frame(t, date + num)
    if t is MessageType.SDMF_VMWI:
        if msg.vmwi is None:
            raise CallerIdError("message waiting indication needs vmwi on/off")
        return _frame(t, _SDMF_VMWI_ON if msg.vmwi else _SDMF_VMWI_OFF)
    body = b""

    def param(p: int, value: bytes) -> None:
        nonlocal body
        body += bytes([p, len(value)]) + value

    if msg.date is not None:
        param(Param.DATE_TIME, _check_date(msg.date))
    if msg.number is not None:
        param(Param.NUMBER, _text(msg.number, "number", MAX_NUMBER))
    if msg.number_absent is not None:
        param(Param.NUMBER_ABSENT, _absence(msg.number_absent, "number absent"))
    if msg.name is not None:
        param(Param.NAME, _text(msg.name, "name", MAX_NAME))
    if msg.name_absent is not None:
        param(Param.NAME_ABSENT, _absence(msg.name_absent, "name absent"))
    if msg.vmwi is not None:
        param(Param.VISUAL_INDICATOR, b"\xff" if msg.vmwi else b"\x00")
    if msg.message_count is not None:
        if not 0 <= msg.message_count <= 255:
            raise CallerIdError("message count must be 0..255")
        param(Param.MESSAGE_COUNT, bytes([msg.message_count]))
    for p, value in msg.extra:
        if len(value) > 255 or not 0 <= p <= 255:
            raise CallerIdError(f"bad extra parameter 0x{p:02X}")
        param(p, value)
    if not body:
        raise CallerIdError("MDMF message with no parameters")
    return _frame(t, body)


def _ascii(value: bytes, what: str) -> str:
    try:
        return value.decode("ascii")
    except UnicodeDecodeError as exc:
        raise CallerIdError(f"{what} is not ASCII") from exc


def parse_message(data: bytes) -> CallerIdMessage:
    """Decode ``type, length, body, checksum``; raises CallerIdError with the reason."""
    if len(data) < 3:
        raise CallerIdError("message shorter than type, length and checksum")
    length = data[1]
    if len(data) < length + 3:
        raise CallerIdError(f"message truncated: length {length}, have {len(data) - 3}")
    frame = data[: length + 3]
    if sum(frame) & 0xFF:
        raise CallerIdError("checksum mismatch")
    try:
        t = MessageType(frame[0])
    except ValueError as exc:
        raise CallerIdError(f"unknown message type 0x{frame[0]:02X}") from exc
    body = frame[2:-1]
    if t is MessageType.SDMF_CALLER_ID:
        if len(body) < 9:
            raise CallerIdError("SDMF body shorter than date and one character")
        date = _ascii(body[:8], "date")
        rest = _ascii(body[8:], "number")
        if rest in ABSENCE_REASONS:
            return CallerIdMessage(t, date=date, number_absent=rest)
        return CallerIdMessage(t, date=date, number=rest)
    if t is MessageType.SDMF_VMWI:
        if body == _SDMF_VMWI_ON:
            return CallerIdMessage(t, vmwi=True)
        if body == _SDMF_VMWI_OFF:
            return CallerIdMessage(t, vmwi=False)
        raise CallerIdError(f"bad SDMF message-waiting body {body.hex()}")
    fields: dict[str, object] = {}
    extra: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(body):
        if pos + 2 > len(body):
            raise CallerIdError("parameter header truncated")
        p, n = body[pos], body[pos + 1]
        value = body[pos + 2 : pos + 2 + n]
        if len(value) != n:
            raise CallerIdError(f"parameter 0x{p:02X} truncated")
        pos += 2 + n
        if p == Param.DATE_TIME:
            fields["date"] = _ascii(value, "date")
        elif p == Param.NUMBER:
            fields["number"] = _ascii(value, "number")
        elif p == Param.NUMBER_ABSENT:
            fields["number_absent"] = _ascii(value, "number absent")
        elif p == Param.NAME:
            fields["name"] = _ascii(value, "name")
        elif p == Param.NAME_ABSENT:
            fields["name_absent"] = _ascii(value, "name absent")
        elif p == Param.VISUAL_INDICATOR and n == 1:
            fields["vmwi"] = value[0] != 0
        elif p == Param.MESSAGE_COUNT and n == 1:
            fields["message_count"] = value[0]
        else:
            extra.append((p, bytes(value)))
    return CallerIdMessage(t, extra=tuple(extra), **fields)  # type: ignore[arg-type]


def _clean_text(value: str, limit: int) -> str:
    """Printable ASCII only (others become '?'), trimmed to ``limit`` characters."""
    out = "".join(c if " " <= c <= "~" else "?" for c in value.strip())
    return out[:limit]


def message_for_call(
    number: str,
    name: str,
    withheld: str,
    when: _dt.datetime,
    *,
    sdmf: bool = False,
    max_number: int = 20,
    max_name: int = 15,
) -> CallerIdMessage:
    """A caller ID message from what signalling gave (never raises).

    ``withheld`` is "private" or "unavailable" (or empty) as the SIP layer reports it. The number
    keeps digits, '*' and '#' (a leading '+' is dropped, as phones show national digits); the name
    becomes printable ASCII, at most ``max_name`` characters (GR-30 displays 15). A missing
    number or name is sent as an absence reason: 'P' private, 'O' unavailable.
    """
    reason = "P" if withheld == "private" else "O"
    digits = "".join(c for c in number if c.isascii() and (c.isdigit() or c in "*#"))
    digits = digits[: 10 if sdmf else max_number]
    text = _clean_text(name, max_name)
    date = date_field(when)
    if sdmf:
        return CallerIdMessage(
            MessageType.SDMF_CALLER_ID,
            date=date,
            number=digits or None,
            number_absent=None if digits else reason,
        )
    return CallerIdMessage(
        MessageType.MDMF_CALLER_ID,
        date=date,
        number=digits or None,
        number_absent=None if digits else reason,
        name=text or None,
        name_absent=None if text else reason,
    )
