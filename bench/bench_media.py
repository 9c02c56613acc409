"""Media path benchmark: G.711 cost, per-call CPU/RSS, RTP send pacing on loopback.

Run: ``python bench/bench_media.py [--seconds 10] [--no-baresip]``. Prints numbers, never
pass/fail.

Send pacing is measured by an independent receiver *process* that timestamps every datagram
with the kernel's receive time (SO_TIMESTAMPNS), so neither the receiver's scheduling nor the
GIL of the process under test colours the result. Reported per stream: |interval − 20 ms|
p50/p99/max, the RFC 3550 interarrival jitter J, and the drift of arrival time against the RTP
timestamp over the run (ms and ppm). Streams measured:

* pi-ata: an RtpSession paced by SoftwareFrameClock (absolute deadlines with loop.call_at),
  while a second session sends to it (two sessions on one event loop, both ways);
* baresip 1.0 (Debian), aufile source, called by a minimal SIP answerer in this script whose
  SDP points baresip's RTP at the same kind of receiver;
* sipp 3.6 ``rtp_stream`` (its C++ RTP playback thread), called into the same answerer;
* a naive ``time.sleep(0.02)``-per-packet sender in its own process (what the design forbids),
  to show the drift that absolute deadlines avoid.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib
import json
import math
import os
import resource
import socket
import struct
import subprocess
import sys
import tempfile
import time
import timeit
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ata.dsp.wavio import write_wav  # noqa: E402
from ata.media.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode  # noqa: E402
from ata.media.session import MediaConfig, MediaSession  # noqa: E402
from ata.runtime.media_clock import SoftwareFrameClock, tone_frames  # noqa: E402
from ata.runtime.rtp_session import RtpSession  # noqa: E402

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SCM_TIMESTAMPNS = SO_TIMESTAMPNS


# --- receiver process -----------------------------------------------------------------------


def receiver_main(port: int, seconds: float, out: str, reflect: bool) -> None:
    """Record (kernel arrival ns, seq, ts) of every RTP datagram on ``port``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.bind(("127.0.0.1", port))
    sock.settimeout(0.5)
    print("ready", flush=True)
    rows: list[tuple[int, int, int, int]] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            data, anc, _flags, _addr = sock.recvmsg(2048, socket.CMSG_SPACE(16))
            _addr = (str(_addr[0]), int(_addr[1]))
        except TimeoutError:
            continue
        if len(data) < 12 or data[0] >> 6 != 2:
            continue
        ns = time.time_ns()
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS:
                sec, nsec = struct.unpack("qq", payload[:16])
                ns = sec * 1_000_000_000 + nsec
        _, pt, seq, ts = struct.unpack_from("!BBHI", data)
        rows.append((ns, seq, ts, pt & 0x7F))
        if reflect:
            # Echo the packet back under another SSRC, so the sender has a live far end
            # (it latches on us and runs its full receive path).
            sock.sendto(data[:8] + b"\x00\x00\xbe\xef" + data[12:], _addr)
    Path(out).write_text(json.dumps(rows))


class Receiver:
    def __init__(self, seconds: float, *, reflect: bool = False) -> None:
        self.port = _free_udp_port()
        fd, self.path = tempfile.mkstemp(suffix=".json")
        os.close(fd)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--receiver",
                str(self.port),
                str(seconds),
                self.path,
                "1" if reflect else "0",
            ],
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        self.proc.stdout.readline()

    def rows(self) -> list[tuple[int, int, int, int]]:
        self.proc.wait(timeout=60)
        rows = json.loads(Path(self.path).read_text())
        os.unlink(self.path)
        return [tuple(r) for r in rows]  # type: ignore[misc]


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def pacing_stats(rows: list[tuple[int, int, int, int]], pt: int = 0) -> dict[str, float]:
    audio = [r for r in rows if r[3] == pt]
    if len(audio) < 10:
        return {"packets": float(len(audio))}
    audio = audio[5:]  # skip start-up
    t = np.array([r[0] for r in audio], dtype=np.float64) / 1e9
    ts = np.array([r[2] for r in audio], dtype=np.int64)
    ts = np.unwrap(ts.astype(np.float64), period=2**32)
    intervals = np.diff(t) * 1000.0
    dev = np.abs(intervals - 20.0)
    # RFC 3550 §6.4.1 jitter (in ms), arrival vs RTP timestamp.
    transit = t - ts / 8000.0
    j = 0.0
    for d in np.abs(np.diff(transit)):
        j += (d - j) / 16.0
    elapsed = t[-1] - t[0]
    media = (ts[-1] - ts[0]) / 8000.0
    return {
        "packets": float(len(audio)),
        "dev_p50_ms": float(np.percentile(dev, 50)),
        "dev_p99_ms": float(np.percentile(dev, 99)),
        "dev_max_ms": float(dev.max()),
        "jitter_J_ms": j * 1000.0,
        "drift_ms": (elapsed - media) * 1000.0,
        "drift_ppm": (elapsed - media) / media * 1e6 if media else math.nan,
    }


def _print_pacing(label: str, s: dict[str, float]) -> None:
    if "dev_p50_ms" not in s:
        print(f"  {label:<44} no data ({s.get('packets', 0):.0f} packets)")
        return
    print(
        f"  {label:<44} n={s['packets']:>5.0f}  |Δ−20ms| p50 {s['dev_p50_ms']:6.3f}  "
        f"p99 {s['dev_p99_ms']:6.3f}  max {s['dev_max_ms']:6.3f} ms  J {s['jitter_J_ms']:6.3f} ms"
        f"  drift {s['drift_ms']:+7.3f} ms ({s['drift_ppm']:+.0f} ppm)"
    )


# --- process accounting ------------------------------------------------------------------------


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def proc_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# --- 1. G.711 ---------------------------------------------------------------------------------


def bench_g711() -> None:
    print("G.711, one 160-sample frame (µs):")
    rng = np.random.default_rng(1)
    frame = rng.integers(-20000, 20000, 160).astype(np.int16)
    codes = ulaw_encode(frame)
    raw = frame.tobytes()
    n = 20000
    ours = {
        "ulaw_encode": timeit.timeit(lambda: ulaw_encode(frame), number=n) / n * 1e6,
        "ulaw_decode": timeit.timeit(lambda: ulaw_decode(codes), number=n) / n * 1e6,
        "alaw_encode": timeit.timeit(lambda: alaw_encode(frame), number=n) / n * 1e6,
        "alaw_decode": timeit.timeit(lambda: alaw_decode(codes), number=n) / n * 1e6,
    }
    ref: dict[str, float] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            audioop = importlib.import_module("audioop")
        except ImportError:
            audioop = None
    if audioop is not None:
        cb = codes.tobytes()
        ref = {
            "ulaw_encode": timeit.timeit(lambda: audioop.lin2ulaw(raw, 2), number=n) / n * 1e6,
            "ulaw_decode": timeit.timeit(lambda: audioop.ulaw2lin(cb, 2), number=n) / n * 1e6,
            "alaw_encode": timeit.timeit(lambda: audioop.lin2alaw(raw, 2), number=n) / n * 1e6,
            "alaw_decode": timeit.timeit(lambda: audioop.alaw2lin(cb, 2), number=n) / n * 1e6,
        }
    for name, us in ours.items():
        if name in ref:
            print(
                f"  {name:<12} {us:6.2f}   audioop {ref[name]:6.2f}   ratio {us / ref[name]:5.2f}"
            )
        else:
            print(f"  {name:<12} {us:6.2f}   (audioop not available on this Python)")
    # Whole-frame round trip through bytes, as the session does it.
    t = timeit.timeit(lambda: ulaw_encode(frame).tobytes(), number=n) / n * 1e6
    print(f"  encode+tobytes {t:6.2f}")


# --- 2. session CPU in memory ----------------------------------------------------------------


def bench_session_cpu() -> None:
    a = MediaSession(MediaConfig(local_ssrc=1, remote_rtp=("127.0.0.2", 4000)))
    b = MediaSession(MediaConfig(local_ssrc=2, remote_rtp=("127.0.0.1", 4000)))
    gen = tone_frames(1000.0)
    frames = [gen(k) for k in range(50)]
    n = 3000
    t0 = time.perf_counter()
    for k in range(n):
        now = k * 0.02
        for d, _ in a.send_frame(frames[k % 50], now):
            b.receive_rtp(d, ("127.0.0.1", 4000), now + 0.005)
        for d, _ in b.send_frame(frames[k % 50], now):
            a.receive_rtp(d, ("127.0.0.2", 4000), now + 0.005)
        a.pull_frame(now + 0.01)
        b.pull_frame(now + 0.01)
        a.handle_timer(now)
        b.handle_timer(now)
    per_frame = (time.perf_counter() - t0) / n / 2
    print("MediaSession (sans-IO, in memory), per call side:")
    print(f"  send+receive+pull per 20 ms frame: {per_frame * 1e6:6.1f} µs")
    print(
        f"  CPU per call-second (50 frames):  {per_frame * 50 * 1e3:6.2f} ms  "
        f"({per_frame * 50 * 100:.2f} % of one core)"
    )


# --- 3. loopback pacing: pi-ata -------------------------------------------------------------


async def _run_ours(seconds: float, ports: tuple[int, int]) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    frames = int(seconds / 0.02)
    a = await RtpSession.open(MediaConfig(local_ssrc=0xA, remote_rtp=("127.0.0.1", ports[0])))
    b = await RtpSession.open(MediaConfig(local_ssrc=0xB, remote_rtp=("127.0.0.1", ports[1])))
    start = loop.time() + 0.05
    cpu0 = proc_cpu_seconds(os.getpid())
    gc.freeze()
    await asyncio.gather(
        a.run(SoftwareFrameClock(tone_frames(1000.0), start=start), frames=frames),
        b.run(SoftwareFrameClock(tone_frames(440.0), start=start), frames=frames),
    )
    cpu = proc_cpu_seconds(os.getpid()) - cpu0
    sa = a.stats()
    await a.close()
    await b.close()
    return {
        "cpu_per_call_second_ms": cpu / (seconds * 2) * 1000.0,  # two call sides
        "rss_kib": float(proc_rss_kib(os.getpid())),
        "maxrss_kib": float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss),
        "a_received": float(sa.packets_received),
        "a_concealed": float(sa.jitter_buffer.concealed),
    }


def bench_ours(seconds: float) -> None:
    rx_a = Receiver(seconds + 1.0, reflect=True)
    rx_b = Receiver(seconds + 1.0, reflect=True)
    info = asyncio.run(_run_ours(seconds, (rx_a.port, rx_b.port)))
    print(f"Send pacing on loopback ({seconds:.0f} s, kernel receive timestamps):")
    _print_pacing("pi-ata session A (SoftwareFrameClock)", pacing_stats(rx_a.rows()))
    _print_pacing("pi-ata session B (same event loop)", pacing_stats(rx_b.rows()))
    print(
        f"  pi-ata process: CPU {info['cpu_per_call_second_ms']:.2f} ms per call-second "
        f"(2 sessions on one loop, both directions), RSS {info['rss_kib'] / 1024:.1f} MiB "
        f"(max {info['maxrss_kib'] / 1024:.1f} MiB); side A received "
        f"{info['a_received']:.0f} packets, concealed {info['a_concealed']:.0f} frames"
    )


# --- 3b. mouth-to-ear through two sessions -------------------------------------------------------


async def _run_latency(seconds: float) -> list[int]:
    loop = asyncio.get_running_loop()
    frames = int(seconds / 0.02)
    tone = tone_frames(1000.0, 12000.0)
    silence = np.zeros(160, np.int16)

    def bursts(k: int) -> np.ndarray:
        return tone(k) if k % 50 == 10 else silence

    a = await RtpSession.open(MediaConfig(local_ssrc=0xA1, remote_rtp=None))
    b = await RtpSession.open(MediaConfig(local_ssrc=0xB1, remote_rtp=a.local_rtp))
    a.media.set_remote(b.local_rtp)
    heard: list[int] = []

    class Sink:
        def __init__(self) -> None:
            self.k = 0

        def write_frame(self, frame: np.ndarray) -> None:
            if int(np.abs(frame).max()) > 4000:
                heard.append(self.k)
            self.k += 1

    start = loop.time() + 0.05
    await asyncio.gather(
        a.run(SoftwareFrameClock(bursts, start=start), frames=frames),
        b.run(SoftwareFrameClock(start=start), Sink(), frames=frames),
    )
    await a.close()
    await b.close()
    sent = [k for k in range(frames) if k % 50 == 10]
    lat = []
    for k in sent:
        later = [h for h in heard if h >= k]
        if later:
            lat.append(later[0] - k)
    return lat


def bench_latency(seconds: float) -> None:
    lat = asyncio.run(_run_latency(seconds))
    if not lat:
        print("  latency: no bursts heard")
        return
    ms = np.array(lat) * 20.0
    print(
        f"  capture→playout through two sessions on loopback (frames × 20 ms): "
        f"median {np.median(ms):.0f} ms, max {ms.max():.0f} ms over {len(ms)} bursts "
        f"(one frame of capture + network + jitter buffer; the codec adds its own buffers)"
    )


# --- 4. reference: a naive sleep-paced sender in its own process -------------------------------


def naive_sender_main(port: int, seconds: float) -> None:
    """sleep(0.02) per packet (what the design forbids), to show accumulated drift."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    payload = bytes(160)
    seq, ts = 0, 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sock.sendto(struct.pack("!BBHII", 0x80, 0, seq, ts, 7) + payload, ("127.0.0.1", port))
        seq = (seq + 1) & 0xFFFF
        ts += 160
        time.sleep(0.02)


def bench_naive(seconds: float) -> None:
    rx = Receiver(seconds + 1.0)
    proc = subprocess.Popen(
        [sys.executable, __file__, "--naive-sender", str(rx.port), str(seconds)]
    )
    proc.wait()
    _print_pacing("reference: naive time.sleep(0.02) sender", pacing_stats(rx.rows()))


# --- 5. baresip -------------------------------------------------------------------------------


def _sip_answerer(sock: socket.socket, media_port: int, stop_at: float) -> None:
    """Answer one INVITE with 200 OK pointing RTP at ``media_port``; answer BYE with 200."""
    sock.settimeout(0.2)
    while time.monotonic() < stop_at:
        try:
            data, addr = sock.recvfrom(65535)
        except TimeoutError:
            continue
        text = data.decode("utf-8", "replace")
        head = text.split("\r\n\r\n", 1)[0].split("\r\n")
        method = head[0].split(" ", 1)[0]
        if method not in ("INVITE", "BYE", "OPTIONS"):
            continue  # ACK and responses
        keep = [
            h
            for h in head[1:]
            if h.split(":", 1)[0].strip().lower()
            in ("via", "from", "to", "call-id", "cseq", "v", "f", "t", "i")
        ]
        keep = [
            h + ";tag=bench1" if h.lower().startswith(("to:", "t:")) and "tag=" not in h else h
            for h in keep
        ]
        body = ""
        if method == "INVITE":
            body = (
                "v=0\r\no=bench 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                f"m=audio {media_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\n"
                "a=sendrecv\r\n"
            )
        port = sock.getsockname()[1]
        lines = ["SIP/2.0 200 OK", *keep, f"Contact: <sip:bench@127.0.0.1:{port}>"]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body)}")
        sock.sendto(("\r\n".join(lines) + "\r\n\r\n" + body).encode(), addr)


def bench_baresip(seconds: float) -> None:
    try:
        from tests.peers.baresip import Baresip
    except ImportError as exc:  # pragma: no cover - repository layout
        print(f"  baresip: helper unavailable ({exc})")
        return
    import shutil
    import threading

    if shutil.which("baresip") is None:
        print("  baresip: not installed, skipped")
        return
    work = Path(tempfile.mkdtemp(prefix="bench-baresip-"))
    wav = work / "tone.wav"
    gen = tone_frames(1000.0)
    write_wav(wav, np.concatenate([gen(k) for k in range(int((seconds + 10) / 0.02))]))
    ua = Baresip(workdir=work, source_wav=wav, account="<sip:bench@127.0.0.1>;regint=0")
    sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sip.bind(("127.0.0.1", 0))
    rx = Receiver(seconds + 3.0)
    answerer = threading.Thread(
        target=_sip_answerer, args=(sip, rx.port, time.monotonic() + seconds + 8), daemon=True
    )
    answerer.start()  # a thread in the benchmark only: the SIP stub must not share our GIL... it
    # does, but it only wakes for a handful of SIP messages, and baresip runs in its own process.
    try:
        ua.start()
        pid = ua.process.pid if ua.process else 0
        cpu0 = proc_cpu_seconds(pid)
        ua.command("dial", f"sip:x@127.0.0.1:{sip.getsockname()[1]}")
        time.sleep(seconds + 1.0)  # the measurement window; benchmark code, not product code
        cpu = proc_cpu_seconds(pid) - cpu0
        rss = proc_rss_kib(pid)
        with contextlib.suppress(Exception):
            ua.command("hangup")
    finally:
        ua.stop()
    stats = pacing_stats(rx.rows())
    _print_pacing("baresip 1.0 (aufile source, one call)", stats)
    print(
        f"  baresip process: CPU {cpu / seconds * 1000.0:.2f} ms per call-second, "
        f"RSS {rss / 1024:.1f} MiB"
    )
    shutil.rmtree(work, ignore_errors=True)


# --- 6. sipp rtp_stream ------------------------------------------------------------------------

SIPP_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="uac rtp_stream">
  <send retrans="500">
    <![CDATA[
      INVITE sip:x@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[call_number]
      To: <sip:x@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [rtpstream_audio_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
    ]]>
  </send>
  <recv response="200" rtd="true"/>
  <send>
    <![CDATA[
      ACK sip:x@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[call_number]
      To: <sip:x@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <nop><action><exec rtp_stream="tone.raw,-1,0"/></action></nop>
  <pause milliseconds="{ms}"/>
  <nop><action><exec rtp_stream="pause"/></action></nop>
  <send retrans="500">
    <![CDATA[
      BYE sip:x@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[call_number]
      To: <sip:x@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>
</scenario>
"""


def bench_sipp(seconds: float) -> None:
    """sipp 3.6's rtp_stream pacing (a C++ sender thread), as a second reference."""
    import shutil
    import threading

    if shutil.which("sipp") is None:
        print("  sipp: not installed, skipped")
        return
    work = Path(tempfile.mkdtemp(prefix="bench-sipp-"))
    gen = tone_frames(1000.0)
    tone = np.concatenate([gen(k) for k in range(int((seconds + 2) / 0.02))])
    (work / "tone.raw").write_bytes(ulaw_encode(tone).tobytes())
    (work / "uac.xml").write_text(SIPP_SCENARIO.replace("{ms}", str(int(seconds * 1000))))
    rx = Receiver(seconds + 3.0)
    sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sip.bind(("127.0.0.1", 0))
    answerer = threading.Thread(
        target=_sip_answerer, args=(sip, rx.port, time.monotonic() + seconds + 8), daemon=True
    )
    answerer.start()
    cmd = [
        "sipp",
        "-sf",
        "uac.xml",
        "-m",
        "1",
        "-i",
        "127.0.0.1",
        "-mi",
        "127.0.0.1",
        "-p",
        str(_free_udp_port()),
        "-mp",
        str(_free_udp_port() & ~1),
        "-nostdin",
        f"127.0.0.1:{sip.getsockname()[1]}",
    ]
    proc = subprocess.Popen(cmd, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # let the call set up; benchmark choreography
    cpu0 = proc_cpu_seconds(proc.pid) if proc.poll() is None else 0.0
    time.sleep(seconds - 1.5)
    cpu = proc_cpu_seconds(proc.pid) - cpu0 if proc.poll() is None else math.nan
    proc.wait(timeout=seconds + 30)
    _print_pacing("sipp 3.6 rtp_stream (reference, one stream)", pacing_stats(rx.rows()))
    print(f"  sipp process: CPU {cpu / (seconds - 1.5) * 1000.0:.2f} ms per call-second")
    shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--receiver":
        receiver_main(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5] == "1")
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--naive-sender":
        naive_sender_main(int(sys.argv[2]), float(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--no-baresip", action="store_true")
    parser.add_argument("--no-sipp", action="store_true")
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, numpy {np.__version__}, {os.cpu_count()} CPUs")
    bench_g711()
    bench_session_cpu()
    bench_ours(args.seconds)
    bench_latency(min(args.seconds, 10.0))
    bench_naive(args.seconds)
    if not args.no_baresip:
        bench_baresip(args.seconds)
    if not args.no_sipp:
        bench_sipp(args.seconds)


if __name__ == "__main__":
    main()
