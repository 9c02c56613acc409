"""Shared pieces of the CallManager integration tests: a stand-in for the port side, a
CallManager with lines on a real Kamailio, audio analysis."""

from __future__ import annotations

import asyncio
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
