"""ALSA AudioPort through pyalsaaudio on alsa-lib's real userspace plugins (null, file).

The asoundrc defines ``pcm.nullcap {type null}`` (unclocked; its capture data is whatever was in
the buffer), ``pcm.filecap {type file ... infile}`` (capture read from a raw file) and
``pcm.fileout {type file ...}`` (playback written raw to a file), so pyalsaaudio and alsa-lib run
for real; the clock is the test's. The loop-polled (device-paced) mode is exercised with a
small PCM stand-in whose poll descriptor is a pipe, because no clocked ALSA device exists here.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
from pathlib import Path

import numpy as np
import pytest

from hal.alsa import AlsaAudioDevice, AlsaDeviceError
from hal.audio import AudioPort
from hal.clock import VirtualClock
from tests.peers import missing_peer


def frame(k: int) -> np.ndarray:
    return ((np.arange(160) * 7 + k * 1000) % 20000 - 10000).astype(np.int16)


@pytest.fixture
def asoundrc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    try:
        import alsaaudio  # noqa: F401
    except ImportError as exc:
        missing_peer(f"pyalsaaudio cannot be imported ({exc})")
    out = tmp_path / "played.raw"
    infile = tmp_path / "line.raw"
    np.concatenate([frame(100 + k) for k in range(40)]).astype("<i2").tofile(infile)
    conf = tmp_path / "asoundrc"
    conf.write_text(
        "pcm.nullcap { type null }\n"
        f'pcm.fileout {{ type file slave.pcm "nullcap" file "{out}" format "raw" }}\n'
        f'pcm.filecap {{ type file slave.pcm "nullcap" file "/dev/null" infile "{infile}" '
        'format "raw" }\n'
    )
    monkeypatch.setenv("ALSA_CONFIG_PATH", str(conf))
    return out


async def test_real_plugins_played_frames_land_in_the_file(asoundrc: Path) -> None:
    clock = VirtualClock(start=10.0)
    dev = AlsaAudioDevice("filecap", "fileout", clock=clock, playback_prefill=2, playback_depth=64)
    port = dev.ports[0]
    assert isinstance(port, AudioPort)
    for k in range(20):
        port.write_frame(frame(k))
    await port.start()
    captured = []

    async def reader() -> None:
        for _ in range(30):
            captured.append(await port.read_captured())

    await clock.run(reader())
    await port.close()
    # capture: the 30 first frames of the capture file, paced exactly by the test's clock
    assert [c.index for c in captured] == list(range(30))
    assert [c.at for c in captured] == [10.0 + (k + 1) * 0.02 for k in range(30)]
    assert all(np.array_equal(c.samples, frame(100 + k)) for k, c in enumerate(captured))
    # playback: prefill silence, the 20 frames in order, then silence for the other periods
    data = np.fromfile(asoundrc, dtype="<i2")
    assert data.size == (2 + 30) * 160
    assert not data[: 2 * 160].any()
    body = data[2 * 160 : 22 * 160].reshape(20, 160)
    assert all(np.array_equal(body[k], frame(k)) for k in range(20))
    assert not data[22 * 160 :].any()
    s = port.stats()
    assert (s.frames_played, s.playback_underruns, s.frames_idle) == (30, 10, 0)


async def test_real_plugins_stereo_channels_interleave(asoundrc: Path) -> None:
    clock = VirtualClock()
    dev = AlsaAudioDevice("nullcap", "fileout", channels=2, clock=clock, playback_prefill=0)
    left, right = dev.ports
    left.write_frame(frame(1))
    right.write_frame(frame(2))
    await dev.start()
    await clock.advance_to(0.02)
    await dev.close()
    data = np.fromfile(asoundrc, dtype="<i2").reshape(-1, 2)
    assert np.array_equal(data[:160, 0], frame(1))
    assert np.array_equal(data[:160, 1], frame(2))
    assert left.stats().frames_captured == right.stats().frames_captured == 1


async def test_unpollable_plugin_without_clock_is_a_clear_error(asoundrc: Path) -> None:
    dev = AlsaAudioDevice("nullcap", "fileout")
    with pytest.raises(AlsaDeviceError, match="cannot be polled"):
        await dev.start()
    assert not dev.running


async def test_missing_device_is_a_clear_error(asoundrc: Path) -> None:
    dev = AlsaAudioDevice("no_such_pcm", clock=VirtualClock())
    with pytest.raises(AlsaDeviceError, match="no_such_pcm"):
        await dev.start()


class PipePcm:
    """A PCM stand-in for the loop-polled path: readable when the test writes to a pipe."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.rfd, self.wfd = os.pipe()
        os.set_blocking(self.rfd, False)
        self.chunks: list[bytes | int] = []
        self.written: list[bytes] = []
        self.reads = 0
        self.closed = False

    def feed(self, item: bytes | int) -> None:
        self.chunks.append(item)
        os.write(self.wfd, b"x")

    def read(self) -> tuple[int, bytes]:
        self.reads += 1
        with contextlib.suppress(BlockingIOError):
            os.read(self.rfd, 1)
        if not self.chunks:
            return 0, b""
        item = self.chunks.pop(0)
        if isinstance(item, int):
            return item, b""
        return len(item) // 2, item

    def write(self, data: bytes) -> int:
        self.written.append(data)
        return len(data) // 2

    def polldescriptors(self) -> list[tuple[int, int]]:
        return [(self.rfd, 1)]  # POLLIN

    def close(self) -> None:
        if not self.closed:
            os.close(self.rfd)
            os.close(self.wfd)
        self.closed = True


async def test_loop_polled_path_serves_frames_and_counts_an_overrun() -> None:
    pcms: dict[str, PipePcm] = {}

    def factory(kind: str, device: str, channels: int, period: int, periods: int) -> PipePcm:
        pcms[kind] = PipePcm(kind)
        return pcms[kind]

    dev = AlsaAudioDevice("hw:0", pcm_factory=factory, playback_prefill=1)
    port = dev.ports[0]
    await dev.start()
    cap, play = pcms["capture"], pcms["playback"]
    assert play.written == [bytes(320)]  # one period of silence prefilled
    assert cap.reads == 1  # the read attempt that starts a prepared capture stream
    port.write_frame(frame(5))
    # the device delivers 1.5 frames, then the rest: any period size is re-cut into 160
    whole = frame(1).tobytes() + frame(2).tobytes()
    cap.feed(whole[:480])
    first = await asyncio.wait_for(port.read_captured(), 1.0)
    assert np.array_equal(first.samples, frame(1))
    assert np.array_equal(np.frombuffer(play.written[1], "<i2"), frame(5))
    cap.feed(whole[480:])
    second = await asyncio.wait_for(port.read_captured(), 1.0)
    assert np.array_equal(second.samples, frame(2))
    cap.feed(-errno.EPIPE)
    cap.feed(frame(3).tobytes())
    third = await asyncio.wait_for(port.read_captured(), 1.0)
    assert np.array_equal(third.samples, frame(3))
    assert port.stats().device_xruns == 1
    await dev.close()
    assert cap.closed
    assert play.closed


async def test_ports_sharing_a_device_share_it_until_both_close(asoundrc: Path) -> None:
    from hal.alsa import open_alsa_ports

    clock = VirtualClock()
    ports, devices = open_alsa_ports(
        [("filecap", 1), ("filecap", 0)], clock=clock, playback_prefill=0
    )
    assert len(devices) == 1
    assert devices[0].channels == 2
    assert [p.channel for p in ports] == [1, 0]
    await ports[0].start()
    await ports[1].start()  # idempotent
    await clock.advance_to(0.04)
    await ports[0].close()
    assert devices[0].running  # the other port still uses it
    await clock.advance_to(0.06)
    assert ports[1].stats().frames_captured == 3
    await ports[1].close()
    assert not devices[0].running
