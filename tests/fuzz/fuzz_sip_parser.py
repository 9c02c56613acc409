"""Coverage-guided fuzzing of the SIP parser and UserAgent with atheris (optional tool).

Not a pytest test (no ``test_`` prefix). Run, seeded with the RFC 4475 corpus::

    pip install atheris          # x86_64 Linux wheels; not a project dependency
    python tests/fuzz/fuzz_sip_parser.py tests/sip/data/rfc4475 -max_total_time=60

Any exception other than the typed ``SipParseError`` from the parser, or any exception at all
from ``UserAgent.receive`` (which must answer or drop and count), is a crash atheris reports.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from ata.sip.errors import SipParseError
    from ata.sip.message import error_response
    from ata.sip.parser import parse_message
    from ata.sip.sdp import AudioConfig
    from ata.sip.ua import UaConfig, UserAgent

_UA = UserAgent(
    UaConfig(
        user="user",
        domain="example.com",
        local_host="192.0.2.1",
        outbound_proxy=("192.0.2.9", 5060),
        check_request_uri=False,
        audio=AudioConfig(address="192.0.2.1", port=4000),
    )
)
_NOW = [0.0]


def one_input(data: bytes) -> None:
    try:
        msg = parse_message(data)
    except SipParseError as exc:
        error_response(exc)
    else:
        assert parse_message(msg.to_bytes()) == msg
    _NOW[0] += 0.25
    _UA.receive(data, ("192.0.2.9", 5060), _NOW[0])
    _UA.handle_timer(_NOW[0])
    _UA.datagrams_to_send()
    while _UA.next_event() is not None:
        pass


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
