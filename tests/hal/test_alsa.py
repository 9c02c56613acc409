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
from hal.audio import AudioPort, CapturedFrame
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


@pytest.mark.parametrize("period", [160, 40])
async def test_real_plugins_played_frames_land_in_the_file(asoundrc: Path, period: int) -> None:
    clock = VirtualClock(start=10.0)
    dev = AlsaAudioDevice(
        "filecap",
        "fileout",
        clock=clock,
        playback_prefill=2,
        playback_depth=64,
        period_frames=period,
    )
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
    assert [c.at for c in captured] == pytest.approx([10.0 + (k + 1) * 0.02 for k in range(30)])
    assert all(np.array_equal(c.samples, frame(100 + k)) for k, c in enumerate(captured))
    # playback: as many samples as were captured, after the prefill; the first frame plays
    # 20 ms after the first tick whatever the period (the smaller prefill of a 5 ms period
    # plus the framer's lead keep the same 20 ms margin)
    data = np.fromfile(asoundrc, dtype="<i2")
    assert dev.samples_read == 30 * 160
    assert data.size == dev.prefill_samples + dev.samples_written
    assert dev.samples_written == dev.samples_read
    assert dev.prefill_samples + dev.framers[0].lead == 2 * 160
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
    # the device delivers 1.5 frames, then the rest: any chunk size is re-cut into 160
    whole = frame(1).tobytes() + frame(2).tobytes()
    cap.feed(whole[:480])
    first = await asyncio.wait_for(port.read_captured(), 1.0)
    assert np.array_equal(first.samples, frame(1))
    # as many samples are written as were read: the frame, then 80 of silence (an off-period
    # read runs the queue short once; counted)
    out = np.frombuffer(play.written[1], "<i2")
    assert np.array_equal(out[:160], frame(5))
    assert out.size == 240 and not out[160:].any()
    assert dev.framers[0].short_samples == 80
    cap.feed(whole[480:])
    second = await asyncio.wait_for(port.read_captured(), 1.0)
    assert np.array_equal(second.samples, frame(2))
    assert np.frombuffer(play.written[2], "<i2").size == 80
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


# --- per-channel framing and phase moves ------------------------------------------------------

RAMP_FRAMES = 120


def ramp(channel: int, start: int, n: int) -> np.ndarray:
    """The stereo ramp file's samples: channel 0 counts up, channel 1 down (value ↔ position)."""
    pos = np.arange(start, start + n)
    return (pos if channel == 0 else -pos - 1).astype(np.int16)


def played_ramp(channel: int, start: int, n: int) -> np.ndarray:
    """What a port writes: its own ramp, offset so it is never silent."""
    return ((np.arange(start, start + n) + 1) * (1 if channel == 0 else -1)).astype(np.int16)


@pytest.fixture
def rampcap(asoundrc: Path, tmp_path: Path) -> Path:
    """``pcm.rampcap``: a stereo capture whose samples tell their stream position."""
    infile = tmp_path / "ramp.raw"
    n = RAMP_FRAMES * 160
    np.stack([ramp(0, 0, n), ramp(1, 0, n)], axis=1).astype("<i2").tofile(infile)
    conf = Path(os.environ["ALSA_CONFIG_PATH"])
    conf.write_text(
        conf.read_text()
        + f'pcm.rampcap {{ type file slave.pcm "nullcap" file "/dev/null" infile "{infile}" '
        'format "raw" }\n'
    )
    return asoundrc


async def run_media(
    dev: AlsaAudioDevice, clock: VirtualClock, frames: int, shifts: dict[int, tuple[int, float]]
) -> tuple[list[list[CapturedFrame]], dict[int, float]]:
    """A media loop per port: read a frame, write one, and move the grid once where asked."""
    captured: list[list[CapturedFrame]] = [[] for _ in dev.ports]
    applied: dict[int, float] = {}

    async def media(ch: int) -> None:
        port = dev.ports[ch]
        for k in range(frames):
            captured[ch].append(await port.read_captured())
            port.write_frame(played_ramp(ch, k * 160, 160))
            if ch in shifts and shifts[ch][0] == k:
                applied[ch] = port.advance_phase(shifts[ch][1])

    await dev.start()
    await clock.run(asyncio.gather(*(media(ch) for ch in range(len(dev.ports)))))
    await dev.close()
    return captured, applied


def jumps(samples: np.ndarray, step: int) -> list[tuple[int, int]]:
    """(index, size) of every place where a ramp of ``step`` per sample does not continue."""
    d = np.diff(samples.astype(np.int64))
    return [(int(i), int(d[i])) for i in np.flatnonzero(d != step)]


async def test_advance_on_one_channel_moves_its_frames_and_ticks_only(rampcap: Path) -> None:
    clock = VirtualClock()
    dev = AlsaAudioDevice(
        "rampcap", "fileout", channels=2, clock=clock, period_frames=40, playback_prefill=2
    )
    captured, applied = await run_media(dev, clock, 30, {1: (5, 0.010)})
    assert applied == {1: 0.010}
    left, right = captured
    # channel 0 untouched: consecutive frames of the stream, one every 20 ms
    assert [c.index for c in left] == list(range(30))
    assert all(np.array_equal(c.samples, ramp(0, 160 * k, 160)) for k, c in enumerate(left))
    assert [c.at for c in left] == pytest.approx([0.02 * (k + 1) for k in range(30)])
    # channel 1: frame 6 ends 80 samples early in the stream, its first 80 repeat frame 5's
    # tail, and from then on every frame ends 80 samples (10 ms) early; indexes keep counting
    assert [c.index for c in right] == list(range(30))
    six = right[6].samples
    assert np.array_equal(six, np.concatenate([ramp(1, 880, 80), ramp(1, 960, 80)]))
    for k, c in enumerate(right):
        end = 160 * (k + 1) - (80 if k >= 6 else 0)
        assert np.array_equal(c.samples[-80:], ramp(1, end - 80, 80))
        assert c.at == pytest.approx(end / 8000)
    # playback: as many samples out as in, per channel; channel 0 continuous, channel 1 skips
    # exactly the 80 samples its tick gained, once; no silence inside either stream
    assert dev.samples_written == dev.samples_read
    data = np.fromfile(rampcap, dtype="<i2").reshape(-1, 2)
    assert data.shape[0] == dev.prefill_samples + dev.samples_read
    start = 2 * 160 + 160  # prefill + lead, then one frame of silence: nothing written yet
    assert not data[:start].any()
    assert data[start, 0] == 1 and data[start, 1] == -1
    assert jumps(data[start:, 0], 1) == []
    assert [size for _, size in jumps(data[start:, 1], -1)] == [-81]
    assert [p.framer.dropped_samples for p in dev.ports] == [0, 80]
    assert [f.short_samples for f in dev.framers] == [0, 0]
    assert [p.stats().playback_underruns for p in dev.ports] == [0, 0]


async def test_retard_lengthens_one_period_and_repeats_playback(rampcap: Path) -> None:
    clock = VirtualClock()
    dev = AlsaAudioDevice(
        "rampcap", "fileout", channels=2, clock=clock, period_frames=40, playback_prefill=2
    )
    captured, applied = await run_media(dev, clock, 20, {0: (3, -0.005)})
    assert applied == {0: -0.005}
    left = captured[0]
    # frame 4 needs 200 new samples and keeps the last 160 (the oldest 40 are discarded)
    for k, c in enumerate(left):
        end = 160 * (k + 1) + (40 if k >= 4 else 0)
        assert np.array_equal(c.samples, ramp(0, end - 160, 160))
        assert c.at == pytest.approx(end / 8000)
    assert [c.index for c in left] == list(range(20))
    data = np.fromfile(rampcap, dtype="<i2").reshape(-1, 2)
    start = 3 * 160
    # 40 samples played again, once; nothing dropped or silent
    assert [size for _, size in jumps(data[start:, 0], 1)] == [-39]
    assert jumps(data[start:, 1], -1) == []
    assert dev.framers[0].inserted_samples == 40
    assert dev.samples_written == dev.samples_read


async def test_with_20ms_periods_no_tick_can_move(rampcap: Path) -> None:
    clock = VirtualClock()
    dev = AlsaAudioDevice("rampcap", "fileout", channels=2, clock=clock, playback_prefill=2)
    captured, applied = await run_media(dev, clock, 6, {0: (3, 0.010)})
    assert applied == {0: 0.0}  # the media layer learns that this port cannot align
    assert all(np.array_equal(c.samples, ramp(0, 160 * k, 160)) for k, c in enumerate(captured[0]))


async def test_with_20ms_periods_an_exact_step_recuts_frames_but_ticks_stay(rampcap: Path) -> None:
    clock = VirtualClock()
    dev = AlsaAudioDevice(
        "rampcap", "fileout", channels=2, clock=clock, playback_prefill=2, phase_step=1
    )
    captured, applied = await run_media(dev, clock, 12, {0: (3, 0.010)})
    assert applied == {0: 0.010}
    left = captured[0]
    assert np.array_equal(left[4].samples, ramp(0, 560, 160))  # re-cut 80 samples earlier...
    assert [c.at for c in left] == pytest.approx([0.02 * (k + 1) for k in range(12)])  # ...on time
    assert dev.framers[0].dropped_samples == 0  # no tick moved: playback keeps its timing
    data = np.fromfile(rampcap, dtype="<i2").reshape(-1, 2)
    assert jumps(data[3 * 160 :, 0], 1) == []
    assert dev.samples_written == dev.samples_read


async def test_moves_are_rounded_to_whole_periods(rampcap: Path) -> None:
    clock = VirtualClock()
    dev = AlsaAudioDevice(
        "rampcap", "fileout", channels=2, clock=clock, period_frames=40, playback_prefill=2
    )
    captured, applied = await run_media(dev, clock, 8, {0: (2, 0.0073), 1: (2, -0.0012)})
    assert applied == {0: pytest.approx(0.005), 1: pytest.approx(-0.005)}
    assert captured[0][3].at == pytest.approx(0.08 - 0.005)
    assert captured[1][3].at == pytest.approx(0.08 + 0.005)
    assert np.array_equal(captured[0][3].samples[-120:], ramp(0, 480, 120))  # fresh to the end


async def test_playback_written_equals_captured_over_many_frames(rampcap: Path) -> None:
    clock = VirtualClock()
    dev = AlsaAudioDevice(
        "rampcap", "fileout", channels=2, clock=clock, period_frames=40, playback_prefill=2
    )
    captured, _ = await run_media(dev, clock, 110, {0: (20, 0.0125), 1: (50, -0.0075)})
    assert [len(c) for c in captured] == [110, 110]
    assert dev.samples_written == dev.samples_read
    assert dev.playback_dropped == dev.playback_blocked == 0
    data = np.fromfile(rampcap, dtype="<i2").reshape(-1, 2)
    assert data.shape[0] == dev.prefill_samples + dev.samples_read
    assert [f.short_samples for f in dev.framers] == [0, 0]
    assert [p.stats().device_xruns for p in dev.ports] == [0, 0]


async def test_loop_polled_path_moves_the_grid_too() -> None:
    pcms: dict[str, PipePcm] = {}

    def factory(kind: str, device: str, channels: int, period: int, periods: int) -> PipePcm:
        assert (period, periods) == (40, 16)  # the buffer stays 80 ms
        pcms[kind] = PipePcm(kind)
        return pcms[kind]

    dev = AlsaAudioDevice("hw:0", pcm_factory=factory, period_frames=40, playback_prefill=2)
    port = dev.ports[0]
    await dev.start()
    cap, play = pcms["capture"], pcms["playback"]
    assert play.written == [bytes(2 * 200)]  # a 20 ms margin: 160 + one 40-sample period
    stream = np.arange(2000, dtype=np.int16)

    async def period(k: int) -> None:
        cap.feed(stream[40 * k : 40 * (k + 1)].tobytes())
        for _ in range(100):  # until the loop's reader callback took it
            if not cap.chunks:
                break
            await asyncio.sleep(0)

    for k in range(4):
        await period(k)
    first = await asyncio.wait_for(port.read_captured(), 1.0)
    assert np.array_equal(first.samples, stream[:160])
    assert port.advance_phase(0.010) == pytest.approx(0.010)
    await period(4)
    assert port.stats().capture_queued == 0
    await period(5)  # 80 new samples: the shortened frame is complete after two periods
    second = await asyncio.wait_for(port.read_captured(), 1.0)
    assert np.array_equal(second.samples, np.concatenate([stream[80:160], stream[160:240]]))
    assert [len(w) for w in play.written[1:]] == [80] * 6  # each read answered in kind
    # in one wake-up: 60 samples, a capture overrun, the restarted stream: the 60 are served
    # (and answered) first, then the grid restarts at the new stream
    cap.feed(stream[240:300].tobytes())
    cap.feed(-errno.EPIPE)
    cap.feed(stream[1000:1160].tobytes())
    third = await asyncio.wait_for(port.read_captured(), 1.0)
    assert np.array_equal(third.samples, stream[1000:1160])
    assert [len(w) for w in play.written[-2:]] == [120, 320]
    assert dev.framers[0].need == 160 and dev.framers[0].short_samples == 0
    assert dev.samples_written == dev.samples_read == 6 * 40 + 60 + 160
    assert port.stats().device_xruns == 1
    await dev.close()


def test_buffer_must_hold_the_prefill_and_a_period() -> None:
    assert AlsaAudioDevice(period_frames=160).periods == 4
    assert AlsaAudioDevice(period_frames=40).periods == 16
    assert AlsaAudioDevice(period_frames=320).periods == 4
    with pytest.raises(ValueError, match="raise periods"):
        AlsaAudioDevice(period_frames=40, periods=4)  # 200 frames of prefill in a 160 buffer
    with pytest.raises(ValueError, match="raise periods"):
        AlsaAudioDevice(playback_prefill=4, periods=4)


def test_board_files_set_the_alsa_period(tmp_path: Path) -> None:
    from board.registry import load_board
    from hal.errors import BoardConfigError

    text = (
        '[board]\nname = "{name}"\nslic = "ag1171"\nsimulated = true\n{audio}\n'
        '[[port]]\nrm_pin = 1\nfr_pin = 2\nshk_pin = 3\naudio_device = "sim"\n'
    )
    good = tmp_path / "p40.toml"
    good.write_text(text.format(name="p40", audio="[audio]\nperiod_frames = 40"))
    assert load_board(str(good)).audio_period_frames == 40
    plain = tmp_path / "plain.toml"
    plain.write_text(text.format(name="plain", audio=""))
    assert load_board(str(plain)).audio_period_frames == 160
    bad = tmp_path / "bad.toml"
    bad.write_text(text.format(name="bad", audio="[audio]\nperiod_frames = 4"))
    with pytest.raises(BoardConfigError, match=r"audio\.period_frames.*out of range"):
        load_board(str(bad))
