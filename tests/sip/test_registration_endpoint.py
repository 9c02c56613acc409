"""The asyncio endpoint on its own: answering probes, and the UA-facing transaction API."""

from __future__ import annotations

import asyncio
import socket

from ata.runtime.sip_dns import Target
from ata.runtime.sip_endpoint import SipEndpoint
from ata.runtime.sip_transport import TransportConfig
from ata.sip.message import Request, Response, make_response
from ata.sip.parser import parse_message
from ata.sip.transaction_layer import Event, RequestReceived, ResponseReceived

LO = "127.0.0.1"


def request(method: str, port: int, branch: str) -> bytes:
    return (
        f"{method} sip:ata@{LO} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {LO}:{port};branch=z9hG4bK-{branch};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:probe@{LO}>;tag=p\r\nTo: <sip:ata@{LO}>\r\n"
        f"Call-ID: {branch}\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
    ).encode()


async def test_without_a_ua_options_are_answered_and_other_requests_refused() -> None:
    endpoint = SipEndpoint(TransportConfig(host=LO, udp_port=0))
    await endpoint.start()
    loop = asyncio.get_running_loop()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((LO, 0))
            s.setblocking(False)
            port = s.getsockname()[1]
            dest = endpoint.transport.local_address("udp")
            answers = []
            for method in ("OPTIONS", "INVITE"):
                await loop.sock_sendto(s, request(method, port, method.lower()), dest)
                while True:  # skip provisional answers (100 Trying to the INVITE)
                    data = await asyncio.wait_for(loop.sock_recv(s, 65535), 2)
                    answer = parse_message(data)
                    assert isinstance(answer, Response)
                    if answer.status >= 200:
                        break
                answers.append(answer)
    finally:
        await endpoint.stop(grace=0.5)
    options, invite = answers
    assert isinstance(options, Response)
    assert options.status == 200
    assert isinstance(invite, Response)
    assert invite.status == 501
    assert invite.headers.get("Allow") == "OPTIONS"


async def test_ua_api_request_and_response_between_two_endpoints() -> None:
    got_b: list[Event] = []
    got_a: list[Event] = []
    done = asyncio.Event()

    def on_b(event: Event, endpoint: SipEndpoint) -> None:
        got_b.append(event)
        if isinstance(event, RequestReceived):
            endpoint.send_response(make_response(event.request, 200, to_tag="b"))

    def on_a(event: Event, endpoint: SipEndpoint) -> None:
        got_a.append(event)
        done.set()

    a = SipEndpoint(TransportConfig(host=LO, udp_port=0), event_handler=on_a)
    b = SipEndpoint(TransportConfig(host=LO, udp_port=0), event_handler=on_b)
    await a.start()
    await b.start()
    try:
        port_a = a.transport.local_address("udp")[1]
        host_b, port_b = b.transport.local_address("udp")
        message = parse_message(request("MESSAGE", port_a, "m1"))
        assert isinstance(message, Request)
        a.send_request(message, Target(host_b, port_b, "udp"))
        await asyncio.wait_for(done.wait(), 3)
    finally:
        await a.stop(grace=0.5)
        await b.stop(grace=0.5)
    assert isinstance(got_b[0], RequestReceived)
    assert got_b[0].request.method == "MESSAGE"
    (answer,) = got_a
    assert isinstance(answer, ResponseReceived)
    assert answer.response.status == 200
