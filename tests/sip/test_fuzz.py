"""Mutation fuzzing of the parser: any bytes give a message or a typed SipParseError.

Seeds are the 49 RFC 4475 torture messages. Hypothesis applies byte flips, insertions,
deletions, truncation, line duplication and CRLF games. For every input:

* ``parse_message`` returns a Request/Response or raises ``SipParseError`` — nothing else;
* every typed accessor of a parsed message raises nothing but ``SipParseError``;
* a parsed message serializes, and the bytes parse back to an equal message;
* ``validate_request``/``check_response``/``error_response`` raise only their typed errors;
* the stream framer fed the same bytes in chunks raises only ``SipFramingError``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ata.sip.errors import SipFramingError, SipParseError, SipRequestRejected
from ata.sip.message import Request, error_response
from ata.sip.parser import StreamFramer, parse_message
from ata.sip.validate import check_response, validate_request

SEEDS = [p.read_bytes() for p in sorted((Path(__file__).parent / "data" / "rfc4475").glob("*.dat"))]
ACCESSORS = (
    "vias", "top_via", "from_", "to", "call_id", "cseq", "max_forwards", "contacts",
    "contact_star", "routes", "record_routes", "content_type", "allow", "supported",
    "require", "expires",
)  # fmt: skip
TOKENS = [
    b"\r\n", b"\r", b"\n", b" ", b"\t", b":", b";", b",", b'"', b"<", b">", b"\\",
    b"%", b"%00", b"\x00", b"\xff", b"=", b"@", b"[", b"]", b"SIP/2.0", b"9" * 30,
    b"Content-Length: 5\r\n", b"Via: SIP/2.0/UDP h;branch=z9hG4bK\r\n", b"\r\n\r\n",
]  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        op = draw(st.integers(0, 5))
        pos = draw(st.integers(0, len(data) - 1))
        if op == 0:
            data[pos] = draw(st.integers(0, 255))
        elif op == 1:
            data[pos:pos] = draw(st.sampled_from(TOKENS))
        elif op == 2:
            del data[pos : pos + draw(st.integers(1, 40))]
        elif op == 3:
            del data[pos:]
        elif op == 4:
            start = data.rfind(b"\n", 0, pos) + 1
            end = data.find(b"\n", pos)
            if end > 0:
                data[start:start] = data[start : end + 1] * draw(st.integers(1, 3))
        else:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


def _exercise(data: bytes) -> None:
    try:
        msg = parse_message(data)
    except SipParseError as exc:
        error_response(exc)
        return
    for name in ACCESSORS:
        with contextlib.suppress(SipParseError):
            getattr(msg, name)
    with contextlib.suppress(SipParseError):
        msg.challenges("Authorization")
    again = parse_message(msg.to_bytes())
    assert again == msg
    try:
        if isinstance(msg, Request):
            validate_request(msg)
        else:
            check_response(msg)
    except (SipParseError, SipRequestRejected):
        pass


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
@given(mutated())
def test_mutations_raise_only_typed_errors(data: bytes) -> None:
    _exercise(data)


@settings(max_examples=150, deadline=None, database=None)
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    _exercise(data)


@settings(max_examples=150, deadline=None, database=None)
@given(mutated(), st.integers(1, 64))
def test_stream_framer_on_mutations(data: bytes, chunk: int) -> None:
    framer = StreamFramer(max_message=4096, max_header=2048)
    try:
        for i in range(0, len(data), chunk):
            framer.feed(data[i : i + chunk])
            while (frame := framer.next_message()) is not None:
                with contextlib.suppress(SipParseError):
                    parse_message(frame)
    except SipFramingError:
        assert framer.failed
    assert framer.buffered <= 4096 + 64


def test_seeds_all_processed() -> None:
    for seed in SEEDS:
        _exercise(seed)
