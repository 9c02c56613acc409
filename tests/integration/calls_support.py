"""Shared pieces of the CallManager integration tests: a stand-in for the port side, a
CallManager with lines on a real Kamailio, audio analysis."""

from __future__ import annotations

import asyncio
import re
import secrets
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from ata.dsp.levels import FRAME_SAMPLES, dbm0_to_amplitude
from ata.line import port as lp
from ata.runtime.calls import CallManager, CallPolicy, LineAccount
from ata.runtime.sip_endpoint import SipEndpoint
from ata.runtime.sip_transport import TransportConfig
from ata.sip.registration import RegState
from tests.peers.baresip import Baresip
from tests.peers.kamailio import Kamailio

E = TypeVar("E")


class PortStandIn:
    """What a PortDriver does with call events, minus the phone: records every event, and
    can talk into a call's media leg (a sine at ``tone_hz``) while recording what it hears."""

    def __init__(self, manager: CallManager, port: int, tone_hz: float) -> None:
        self.manager = manager
        self.port = port
        self.tone_hz = tone_hz
        self.events: list[lp.Event] = []
        self.heard: list[npt.NDArray[np.int16]] = []
        self._changed = asyncio.Event()
        self._phase = 0
        manager.attach(port, self)

    def __call__(self, event: lp.Event) -> None:
        self.events.append(event)
        self._changed.set()

    async def wait(self, kind: type[E], timeout: float = 5.0) -> E:
        """The first event of ``kind`` (waiting for it if needed)."""

        async def first() -> E:
            while True:
                for event in self.events:
                    if isinstance(event, kind):
                        return event
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(first(), timeout)

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]

    def _tone_frame(self) -> npt.NDArray[np.int16]:
        n = self._phase + np.arange(FRAME_SAMPLES)
        self._phase += FRAME_SAMPLES
        wave = dbm0_to_amplitude(-10.0) * np.sin(2 * np.pi * self.tone_hz * n / 8000.0)
        frame: npt.NDArray[np.int16] = np.rint(wave).astype(np.int16)
        return frame

    async def talk(self, call_id: str, seconds: float) -> None:
        """Send a frame and pull a frame every 20 ms (absolute deadlines) for ``seconds``."""
        leg = self.manager.media(call_id)
        assert leg is not None, "the call has a media leg"
        loop = asyncio.get_running_loop()
        start = loop.time()
        for k in range(round(seconds / 0.02)):
            await asyncio.sleep(max(0.0, start + k * 0.02 - loop.time()))
            leg.send_frame(self._tone_frame())
            self.heard.append(leg.pull_frame())

    def heard_audio(self) -> npt.NDArray[np.int16]:
        if not self.heard:
            return np.zeros(0, np.int16)
        return np.concatenate(self.heard)


def dominant_hz(samples: npt.NDArray[np.int16]) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * 8000 / len(samples))


def account(k: Kamailio, user: str, **kw: Any) -> LineAccount:
    return LineAccount(user=user, domain=f"{k.host}:{k.port}", password=k.users[user], **kw)


@asynccontextmanager
async def running_manager(
    k: Kamailio,
    accounts: Sequence[LineAccount | None],
    *,
    policy: CallPolicy | None = None,
) -> AsyncIterator[CallManager]:
    endpoint = SipEndpoint(TransportConfig(host="127.0.0.1", udp_port=0))
    manager = CallManager(
        endpoint, accounts, policy=policy, rtp_port_range=(40000, 44999), own_endpoint=True
    )
    await manager.start()
    try:
        for line in manager.lines:
            if line is not None and line.registration is not None:
                state = await asyncio.wait_for(
                    endpoint.wait_for(line.registration, {RegState.REGISTERED, RegState.FAILED}),
                    10,
                )
                assert state is RegState.REGISTERED
        yield manager
    finally:
        await manager.stop(grace=2.0)


def baresip_phone(
    factory: Callable[..., Baresip],
    k: Kamailio,
    user: str,
    wav: Path,
    *,
    auto: bool = True,
    display: str = "",
) -> Baresip:
    params = "audio_codecs=PCMU;ptime=20;regint=600"
    if auto:
        params += ";answermode=auto"
    name = f'"{display}" ' if display else ""
    aor = f"{name}<sip:{user}@{k.host}:{k.port}>;auth_pass={k.users[user]};{params}"
    phone = factory(aor, wav)
    phone.wait_registered()
    return phone


async def in_thread(fn: Callable[..., E], *args: Any, **kw: Any) -> E:
    """Blocking baresip control calls run off the loop, so pi-ata keeps serving meanwhile."""
    return await asyncio.to_thread(fn, *args, **kw)


def decoded_recording(phone: Baresip) -> npt.NDArray[np.int16]:
    from ata.dsp.wavio import read_wav

    decoded = [p for p in phone.recordings() if p.name.endswith("-dec.wav")]
    assert decoded, "baresip recorded what it heard"
    return read_wav(decoded[-1])


class RawPeer:
    """A UDP socket speaking SIP from text templates."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.setblocking(False)
        self.host, self.port = self.sock.getsockname()

    def close(self) -> None:
        self.sock.close()

    def send(self, text: str, dest: tuple[str, int]) -> None:
        head, _, body = text.partition("\r\n\r\n")
        head = head.replace("\n", "\r\n").replace("\r\r\n", "\r\n")
        body = body.replace("\r\n", "\n").replace("\n", "\r\n")
        data = f"{head}\r\nContent-Length: {len(body.encode())}\r\n\r\n{body}"
        self.sock.sendto(data.encode(), dest)

    async def recv(self, timeout: float = 2.0) -> str | None:
        loop = asyncio.get_running_loop()
        try:
            data, _ = await asyncio.wait_for(loop.sock_recvfrom(self.sock, 65535), timeout)
        except TimeoutError:
            return None
        return bytes(data).decode()

    async def expect(self, start: str, timeout: float = 3.0) -> str:
        """The next message whose first line starts with ``start`` (others are skipped)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (left := deadline - loop.time()) > 0:
            message = await self.recv(left)
            if message is not None and message.startswith(start):
                return message
        raise AssertionError(f"no {start!r} within {timeout} s")


def header(message: str, name: str) -> str:
    m = re.search(rf"^{name}:[ \t]*(.*?)\r?$", message, re.MULTILINE | re.IGNORECASE)
    assert m is not None, f"no {name} in\n{message}"
    return m.group(1)


def sdp(
    port: int, formats: str = "0 101", extra: str = "a=rtpmap:101 telephone-event/8000\n"
) -> str:
    return (
        "v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\n"
        f"m=audio {port} RTP/AVP {formats}\n{extra}"
    )


def invite(peer: RawPeer, user: str, target: tuple[str, int], body: str, *extra: str) -> str:
    call_id = secrets.token_hex(6)
    lines = [
        f"INVITE sip:{user}@{target[0]}:{target[1]} SIP/2.0",
        f"Via: SIP/2.0/UDP {peer.host}:{peer.port};branch=z9hG4bK{secrets.token_hex(6)}",
        "Max-Forwards: 70",
        f'From: "Raw" <sip:5550100@{peer.host}>;tag=raw{call_id}',
        f"To: <sip:{user}@{target[0]}>",
        f"Call-ID: {call_id}@raw",
        "CSeq: 1 INVITE",
        f"Contact: <sip:5550100@{peer.host}:{peer.port}>",
        *extra,
        "Content-Type: application/sdp",
    ]
    return "\n".join(lines) + "\r\n\r\n" + body


def ack_for(peer: RawPeer, inv: str, response: str) -> str:
    to = header(response, "To")
    return (
        "\n".join(
            [
                inv.split("\n", 1)[0].replace("INVITE", "ACK", 1),
                f"Via: SIP/2.0/UDP {peer.host}:{peer.port};branch=z9hG4bK{secrets.token_hex(6)}",
                "Max-Forwards: 70",
                f"From: {header(inv, 'From')}",
                f"To: {to}",
                f"Call-ID: {header(inv, 'Call-ID')}",
                "CSeq: 1 ACK",
            ]
        )
        + "\r\n\r\n"
    )


@asynccontextmanager
async def daemon_on_kamailio(
    k: Kamailio, rtp_range: tuple[int, int], **line: Any
) -> AsyncIterator[Any]:
    """The daemon on the simulated board, port 1 registered at ``k`` as 1001 (``line`` sets
    more fields of its config, e.g. ``display_name``)."""
    from ata.runtime.daemon import Daemon, DaemonOptions
    from ata.runtime.sip_calls import sip_calls
    from provisioning.schema import Config, Line, Network
    from tests.peers import free_port

    config = Config(
        network=Network(
            local_port=free_port(), rtp_port_min=rtp_range[0], rtp_port_max=rtp_range[1]
        ),
        lines=[
            Line(
                proxy=f"{k.host}:{k.port}",
                user="1001",
                password=k.users["1001"],
                dial_plan="(<:100>x|1xxx)",
                **line,
            )
        ],
    )
    daemon = Daemon(
        config, sip_calls, options=DaemonOptions(api_port=0, freeze_gc=False, admin_listen="")
    )
    await daemon.start()
    try:
        phone = daemon.phone(1)
        assert phone is not None
        assert await phone.wait_for(lambda: bool(k.contacts("1001")), 5.0)
        yield daemon
    finally:
        await daemon.stop()


def port_state(daemon: Any) -> str:
    """Port 1's line state (idle, dialing, connected, ...)."""
    state: str = daemon.ports[0].machine.state.value
    return state
