"""SIP parser throughput: messages/s for a typical INVITE (with SDP) and REGISTER.

Reference: the stdlib ``email.parser.BytesHeaderParser`` parsing the same bytes' header
section (an RFC 822 header parse only: no start line, no typed Via/From/To/CSeq/Contact, no
Content-Length framing). The ratio ``pi-ata / email`` is printed; >1 means pi-ata is faster
even though it does more work per message.

Run: ``python bench/bench_sip_parser.py [seconds-per-case]``
"""

from __future__ import annotations

import email.parser
import email.policy
import sys
import time
from collections.abc import Callable

from ata.sip.parser import parse_message

SDP = (
    b"v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\ns=-\r\n"
    b"c=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0 8 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
)
INVITE = (
    b"INVITE sip:+15551234567@pbx.example.com;user=phone SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK74bf9a2c;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b'From: "Line 1" <sip:1001@pbx.example.com>;tag=9fxced76sl\r\n'
    b"To: <sip:+15551234567@pbx.example.com;user=phone>\r\n"
    b"Call-ID: 3848276298220188511@192.0.2.10\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: <sip:1001@192.0.2.10:5060;transport=udp>\r\n"
    b"Route: <sip:proxy.example.com;lr>\r\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, NOTIFY, REFER\r\n"
    b"Supported: replaces, timer\r\n"
    b"User-Agent: pi-ata/0.1\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: " + str(len(SDP)).encode() + b"\r\n\r\n" + SDP
)
REGISTER = (
    b"REGISTER sip:pbx.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1a2b3c4d;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: <sip:1001@pbx.example.com>;tag=a73kszlfl\r\n"
    b"To: <sip:1001@pbx.example.com>\r\n"
    b"Call-ID: 1j9FpLxk3uxtm8tn@192.0.2.10\r\n"
    b"CSeq: 2 REGISTER\r\n"
    b"Contact: <sip:1001@192.0.2.10:5060>;expires=3600\r\n"
    b'Authorization: Digest username="1001", realm="pbx.example.com", '
    b'nonce="ea9c8e88df84f1cec4341ae6cbe5a359", uri="sip:pbx.example.com", '
    b'response="dfe56131d1958046689d83306477ecc", algorithm=MD5\r\n'
    b"Expires: 3600\r\n"
    b"User-Agent: pi-ata/0.1\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def rate(call: Callable[[bytes], object], data: bytes, seconds: float) -> float:
    """Messages/s of the best of 5 rounds (robust against other load on the machine)."""
    best = 0.0
    for _ in range(5):
        n = 0
        start = time.perf_counter()
        deadline = start + seconds / 5
        while True:
            for _ in range(100):
                call(data)
            n += 100
            now = time.perf_counter()
            if now >= deadline:
                break
        best = max(best, n / (now - start))
    return best


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    email_parser = email.parser.BytesHeaderParser(policy=email.policy.compat32)

    def ref(data: bytes) -> object:
        head = data.split(b"\r\n", 1)[1]  # the stdlib parser knows no SIP start line
        return email_parser.parsebytes(head)

    def full(data: bytes) -> object:
        msg = parse_message(data)
        return msg.vias, msg.from_, msg.to, msg.cseq, msg.contacts

    def round_trip(data: bytes) -> object:
        return parse_message(data).to_bytes()

    print(f"python {sys.version.split()[0]}; {seconds:.1f} s per case")
    print(f"{'message':10} {'pi-ata parse':>14} {'parse+serialize':>16} {'email (ref)':>14} ratio")
    for name, data in (("INVITE", INVITE), ("REGISTER", REGISTER)):
        ours = rate(full, data, seconds)
        both = rate(round_trip, data, seconds)
        theirs = rate(ref, data, seconds)
        print(
            f"{name:10} {ours:>12,.0f}/s {both:>14,.0f}/s {theirs:>12,.0f}/s "
            f"{ours / theirs:.2f}x ({1e6 / ours:.0f} us/msg)"
        )
    print("ratio = pi-ata parse (typed Via/From/To/CSeq/Contact, framing) / email header parse")


if __name__ == "__main__":
    main()
