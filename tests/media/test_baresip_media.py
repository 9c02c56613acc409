"""Media interop with a real, independent peer: baresip (Debian 1.0) on 127.0.0.1.

No SIP UA is involved: a minimal SIP answerer in this test accepts baresip's INVITE and puts
our RtpSession's port in the SDP answer. Then both directions are checked with real audio
(baresip's aufile 1 kHz → our jitter buffer; our 440 Hz → baresip's decoder, recorded by its
sndfile module), RFC 4733 both ways (our sender → baresip's CALL_DTMF_START; baresip's
``sndcode`` → our receiver), and RTCP from baresip parses cleanly.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ata.dsp.wavio import read_wav
from ata.media.events import DtmfStarted, RemoteBye
from ata.media.session import MediaConfig
from ata.runtime.media_clock import FrameRecorder, SoftwareFrameClock, tone_frames
from ata.runtime.rtp_session import RtpSession
from tests.media.helpers import dominant_freq
from tests.peers.baresip import Baresip

pytestmark = pytest.mark.peers


class SipAnswerer(asyncio.DatagramProtocol):
    """Answers INVITE with 200 OK + SDP (our RTP port), BYE with 200 OK; ignores the rest."""

    def __init__(self, media_port: int) -> None:
        self.media_port = media_port
        self.offer: asyncio.Future[tuple[str, int]] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.DatagramTransport | None = None
        self.byes = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        text = data.decode("utf-8", "replace")
        head, _, body = text.partition("\r\n\r\n")
        lines = head.split("\r\n")
        method = lines[0].split(" ", 1)[0]
        if method not in ("INVITE", "BYE"):
            return
        keep = [
            line
            for line in lines[1:]
            if line.split(":", 1)[0].strip().lower() in ("via", "from", "to", "call-id", "cseq")
        ]
        keep = [
            line + ";tag=ata1" if line.lower().startswith("to:") and "tag=" not in line else line
            for line in keep
        ]
        answer = ""
        if method == "INVITE":
            m = re.search(r"^m=audio (\d+)", body, re.M)
            c = re.search(r"^c=IN IP4 (\S+)", body, re.M)
            if m and c and not self.offer.done():
                self.offer.set_result((c.group(1), int(m.group(1))))
            answer = (
                "v=0\r\no=ata 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                f"m=audio {self.media_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
                "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n"
                "a=sendrecv\r\n"
            )
        else:
            self.byes += 1
        out = ["SIP/2.0 200 OK", *keep, "Contact: <sip:ata@127.0.0.1>"]
        if answer:
            out.append("Content-Type: application/sdp")
        out.append(f"Content-Length: {len(answer)}")
        assert self.transport is not None
        self.transport.sendto(("\r\n".join(out) + "\r\n\r\n" + answer).encode(), addr)


async def test_media_interop_with_baresip(
    baresip_factory: Callable[..., Baresip], tone_wav: Callable[..., Path]
) -> None:
    loop = asyncio.get_running_loop()
    events: list[object] = []
    session = await RtpSession.open(
        MediaConfig(local_ssrc=0x5151, remote_rtp=None, rtcp_min_interval=1.0),
        on_event=events.append,
    )
    transport, stub = await loop.create_datagram_endpoint(
        lambda: SipAnswerer(session.local_rtp[1]), local_addr=("127.0.0.1", 0)
    )
    sip_port = transport.get_extra_info("sockname")[1]
    ua = await asyncio.to_thread(
        baresip_factory, "<sip:peer@127.0.0.1>;regint=0", tone_wav(1000.0, 30.0)
    )
    try:
        await asyncio.to_thread(ua.command, "dial", f"sip:ata@127.0.0.1:{sip_port}")
        remote = await asyncio.wait_for(stub.offer, 10)
        session.media.set_remote(remote)
        await asyncio.to_thread(ua.wait_event, "CALL_ESTABLISHED", timeout=10)
        recorder = FrameRecorder()
        clock = SoftwareFrameClock(tone_frames(440.0, 8000.0))

        async def digits() -> None:
            await asyncio.sleep(1.0)  # test choreography, not pacing
            session.send_dtmf("7", 200)
            await asyncio.to_thread(ua.command, "sndcode", "3")

        await asyncio.gather(session.run(clock, recorder, frames=200), digits())
        dtmf_at_baresip = await asyncio.to_thread(ua.wait_event, "CALL_DTMF_START", timeout=5)
        await asyncio.to_thread(ua.command, "hangup")
        await asyncio.to_thread(ua.wait_event, "CALL_CLOSED", timeout=10)
    finally:
        summary = await session.close()
        transport.close()
    heard = recorder.samples()[-8000:]
    assert abs(dominant_freq(heard) - 1000.0) < 5
    stats = session.stats()
    assert stats.lost == 0
    assert stats.rtcp_malformed == 0
    # baresip sends APP "PINGPONG" and, at hang-up, a BYE-first compound: both parse.
    assert stats.rtcp_received >= 1
    assert any(isinstance(e, RemoteBye) for e in events)
    assert stats.malformed_rtp == 0
    assert stats.wrong_payload_type == 0
    assert "7" in str(dtmf_at_baresip.get("param", dtmf_at_baresip))
    assert [e.digit for e in events if isinstance(e, DtmfStarted)] == ["3"]
    assert summary.startswith("PS=")
    decoded = [p for p in ua.recordings() if "dec" in p.name]
    assert decoded, ua.log_tail()
    theirs = read_wav(decoded[0])
    assert len(theirs) > 8000
    assert abs(dominant_freq(theirs[-8000:]) - 440.0) < 5
    assert np.abs(theirs[-8000:]).max() > 4000
