"""Calls under load: RTP send-interval jitter, CPU per call-second and RSS of the whole daemon
with two ports in a call (all DSP running), against baresip 1.0 sending from ``aufile``.

Run: ``python bench/bench_call_load.py [--seconds 60] [--quick] [--no-baresip] [--profile]``.
Prints numbers and ratios; never pass/fail.

pi-ata: the real daemon (``ata.runtime.daemon.Daemon`` with the SIP call manager, the embedded
registrar and the simulated board: real ProSLIC driver on the register model, SimCodec on the
monotonic clock, virtual phones) runs in a **child process**. Phone 1 dials 1002 (DTMF as line
audio), phone 2 answers, and both phones keep talking (a tone each) for the whole run, so both
ports run the full per-frame pipeline: echo canceller → DTMF receiver → RTP send; jitter buffer
→ playout. Both call legs live in the daemon (port 1 ⇄ port 2), i.e. two calls' worth of port
work. The RTP send times are taken from a ``tcpdump`` capture on ``lo`` (kernel timestamps,
nanosecond pcap) of the daemon's two streams, from after each leg's one-time playout phase
move (``ata.media.phase``, reported with its size). CPU is ``utime + stime`` of the child from
``/proc/PID/stat`` across the measured window; RSS is ``VmRSS`` at its end. The CPU includes the
simulator (SLIC model, SimCodec, virtual phones' line analysis), which a real board replaces with
ALSA and SPI. So the daemon also splits its own CPU, always (thread CPU time around each part;
``CpuSplit``): the simulator's per-tick work (SimCodec links: codec model, virtual phones),
pi-ata's per-frame port pipeline (``PortDriver._process_frame``), its RTP receive
(``RtpSession._on_rtp``), and the rest (event loop and wake-ups, SIP, registrar, timers). The
report gives pi-ata *without the simulator* (daemon minus the simulator's part) idle and per
call-second, its ratio to baresip (target: ≤ 2×) and Raspberry Pi estimates (Pi 4 ≈ 3–4× this
machine, Zero 2 W ≈ 10–14×). ``--profile`` prints where the time goes (cProfile, in a separate
run).

baresip: one instance (``audio_source aufile``, a long 1 kHz WAV) dials a probe process that
answers SIP and reflects every RTP packet back (so baresip's receive path and jitter buffer run
too); once with one call, once with two calls. Its packets are timestamped by the probe's
socket (``SO_TIMESTAMPNS``, the same kernel instant on loopback as the capture).

Reported per stream: |interval − 20 ms| p50/p99/max, RFC 3550 interarrival jitter J, and drift
of wall clock against RTP timestamps (least-squares slope of transit time, ppm, and end-to-end
ms). Targets from the media issue: p99 ≤ 0.5 ms, max ≤ 3 ms, J ≤ 0.2 ms, drift ≤ 50 ppm,
daemon RSS with two calls ≤ 60 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import dataclasses
import io
import json
import pstats
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.bench_support.common import (  # noqa: E402
    BaresipSetup,
    PcapCapture,
    Probe,
    baresip_available,
    cpu_model,
    machine_load,
    machine_ticks,
    pacing_stats,
    proc_cpu_seconds,
    proc_memory,
    proc_rss_mib,
    start_baresip,
    streams,
    talking_call,
    uptime,
)

TARGETS = {"dev_p99_ms": 0.5, "dev_max_ms": 3.0, "jitter_J_ms": 0.2, "drift_ppm": 50.0}
PI4 = (3.0, 4.0)
PARTS = ("sim", "pipeline", "rtp_rx")
SUBPARTS = ("ec", "dtmf", "rtp_tx", "playout")  # inside the pipeline
ZERO2W = (10.0, 14.0)


# --- the daemon, in a child process ---------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class CpuSplit:
    """Always-on split of the daemon's CPU: thread CPU time around the simulator's per-tick work
    and around pi-ata's per-frame and per-packet entry points (class-level wrappers installed
    before the daemon starts; two ``thread_time()`` calls each, ~0.3 µs apiece, about 800 calls
    a second in a two-call run, i.e. ≈ 0.5 ms/s of overhead, ~1 % of the daemon).

    Parts: ``sim`` = every SimAudioLink's capture + deliver (codec model, virtual phones' mouths
    and ears; a real board has ALSA instead), ``pipeline`` = PortDriver._process_frame (echo
    canceller, DTMF receiver, encode + RTP send, playout, local tones; its sub-parts ``ec``,
    ``dtmf``, ``rtp_tx`` and ``playout`` are timed too), ``rtp_rx`` = RtpSession._on_rtp
    (parse, jitter buffer put). The rest of the process's CPU is the event
    loop and its wake-ups (the SimCodec's timer included), SIP, registrar and timers.
    """

    def __init__(self) -> None:
        import collections

        self.seconds: dict[str, float] = collections.defaultdict(float)
        self.calls: dict[str, int] = collections.defaultdict(int)

    def wrap(self, cls: Any, name: str, part: str) -> None:
        original = getattr(cls, name, None)
        if original is None:
            return
        seconds, calls, clock = self.seconds, self.calls, time.thread_time

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = clock()
            try:
                return original(*args, **kwargs)
            finally:
                seconds[part] += clock() - t0
                calls[part] += 1

        setattr(cls, name, timed)

    def install(self) -> None:
        from ata.dsp.echo import EchoCanceller
        from ata.runtime.call_media import CallMedia
        from ata.runtime.port_driver import PortDriver
        from ata.runtime.port_dsp import PortDtmfReceiver
        from ata.runtime.rtp_session import RtpSession
        from hal.sim.audio import SimAudioLink

        if hasattr(SimAudioLink, "deliver"):
            self.wrap(SimAudioLink, "capture", "sim")
            self.wrap(SimAudioLink, "deliver", "sim")
        else:
            self.wrap(SimAudioLink, "tick", "sim")
        self.wrap(PortDriver, "_process_frame", "pipeline")
        self.wrap(RtpSession, "_on_rtp", "rtp_rx")
        # Inside the pipeline (reported as "of which"):
        self.wrap(EchoCanceller, "process", "ec")
        self.wrap(PortDtmfReceiver, "process", "dtmf")
        self.wrap(CallMedia, "send_frame", "rtp_tx")
        self.wrap(CallMedia, "pull_frame", "playout")

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()


async def _daemon_child(calls: int, talk_s: float, profile: bool) -> None:
    from ata.runtime.daemon import Daemon, DaemonOptions
    from ata.runtime.demo import demo_config
    from ata.runtime.sip_calls import sip_calls

    split = CpuSplit()
    split.install()

    options = DaemonOptions(
        api_port=0, admin_listen="", registrar_port=_free_port(), registrar_host="127.0.0.1"
    )
    daemon = Daemon(demo_config(), sip_calls, options=options)
    await daemon.start()
    loop = asyncio.get_running_loop()
    info: dict[str, Any] = {}
    try:
        for _ in range(300):  # up to 15 s for both ports to register
            if _registered(daemon):
                break
            await asyncio.sleep(0.05)
        info["registered"] = _registered(daemon)
        assert daemon.sim is not None
        phone1, phone2 = daemon.sim.phones[0], daemon.sim.phones[1]
        if calls:
            info["rang"] = await talking_call(daemon, talk_s)
            # Each leg moves its port's frame grid once, when its jitter buffer has settled
            # (ata.media.phase): a one-time step in its send times. The window measures the
            # steady state after it; the moves are reported.
            for _ in range(300):
                aligners = [leg.media.aligner for leg in _legs(daemon)]
                if aligners and not any(a.active for a in aligners):
                    break
                await asyncio.sleep(0.05)
            info["phase_moves_ms"] = [
                round(leg.media.aligner.advanced_ms, 1) for leg in _legs(daemon)
            ]
            info["states"] = [p.status().state for p in daemon.ports]
            info["rtp_ports"] = [port for leg in _legs(daemon) for port in [leg.local_rtp[1]]]
        profiler = cProfile.Profile() if profile else None
        slips0 = daemon.sim.codec.clock_slips
        print("ready " + json.dumps(info), flush=True)
        if profiler is not None:
            profiler.enable()
        split.reset()
        counters0 = [dataclasses.asdict(p.counters) for p in daemon.ports]
        cpu0, wall0 = time.process_time(), time.monotonic()
        await loop.run_in_executor(None, sys.stdin.readline)  # the parent's "stop"
        cpu1, wall1 = time.process_time(), time.monotonic()
        info["split"] = {
            "wall_s": wall1 - wall0,
            "cpu_s": cpu1 - cpu0,
            "parts_s": dict(split.seconds),
            "calls": dict(split.calls),
        }
        info["port_frames"] = [
            {k: v - c0[k] for k, v in dataclasses.asdict(p.counters).items()}
            for p, c0 in zip(daemon.ports, counters0, strict=True)
        ]
        if profiler is not None:
            profiler.disable()
            text = io.StringIO()
            stats = pstats.Stats(profiler, stream=text)
            stats.sort_stats("tottime").print_stats(30)
            info["profile"] = text.getvalue()
            # Cumulative time of the product's per-call entry points: the port's per-frame
            # pipeline and the RTP datagram handler (the rest is the simulator and asyncio).
            table: dict[Any, Any] = getattr(stats, "stats", {})
            info["pipeline_s"] = {
                name: sum(v[3] for k, v in table.items() if k[2] == name and k[0].endswith(file))
                for name, file in (
                    ("_process_frame", "port_driver.py"),
                    ("_on_rtp", "rtp_session.py"),
                )
            }
        info["clock_slips"] = daemon.sim.codec.clock_slips - slips0
        info["wake_late_ms"] = _codec_lateness(daemon.sim.codec)
        media = []
        for rtp in _legs(daemon):
            if rtp is not None:
                s = rtp.stats()
                jb = s.jitter_buffer
                media.append(
                    {
                        "sent": s.packets_sent,
                        "received": s.packets_received,
                        "lost": s.lost,
                        "concealed": jb.concealed if jb else None,
                        "jb_delay_ms": round(jb.delay_ms, 1) if jb else None,
                    }
                )
        info["media"] = media
        info["states_end"] = [p.status().state for p in daemon.ports]
        if calls:
            phone2.on_hook()
            await asyncio.sleep(0.5)
            phone1.on_hook()
            await asyncio.sleep(0.3)
    finally:
        await daemon.stop()
    print("done " + json.dumps(info), flush=True)


def _legs(daemon: Any) -> list[Any]:
    """The RtpSession of each port's current call."""
    legs = []
    for driver in daemon.ports:
        call_id = driver.machine.call_id
        leg = daemon.calls.media(call_id) if call_id and daemon.calls else None
        rtp = getattr(leg, "rtp", None)
        if rtp is not None:
            legs.append(rtp)
    return legs


def _codec_lateness(codec: Any) -> dict[str, float]:
    """How late the SimCodec woke after each 20 ms deadline (its recent wake-up times)."""
    recorded = getattr(codec, "lateness", None)  # wake-up − deadline, kept by the codec
    if recorded is not None:
        if len(recorded) < 10:
            return {}
        ms = np.array(list(recorded)) * 1000.0
        return {
            "p50": round(float(np.percentile(ms, 50)), 3),
            "p99": round(float(np.percentile(ms, 99)), 3),
            "max": round(float(ms.max()), 3),
        }
    start = getattr(codec, "_start", None)
    times = list(codec.tick_times)
    if start is None or len(times) < 10 or codec.clock_slips:
        return {}
    first = codec.ticks - len(times)
    late = np.array(
        [(t - (start + (first + i + 1) * codec.period)) * 1000.0 for i, t in enumerate(times)]
    )
    return {
        "p50": round(float(np.percentile(late, 50)), 3),
        "p99": round(float(np.percentile(late, 99)), 3),
        "max": round(float(late.max()), 3),
    }


def _registered(daemon: Any) -> bool:
    lines = daemon.status()["lines"]
    return bool(lines) and all(
        (line.get("registration") or {}).get("state") == "registered" for line in lines
    )


class DaemonRun:
    """The daemon child: start, wait until its calls are up, measure a window, stop."""

    def __init__(self, calls: int, talk_s: float, *, profile: bool = False) -> None:
        args = [sys.executable, __file__, "--child-daemon", str(calls), str(talk_s)]
        if profile:
            args.append("--profile")
        self.stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - lives as long as the child
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            cwd=ROOT,
        )
        self.ready: dict[str, Any] = {}
        self.done: dict[str, Any] = {}

    def wait_ready(self, timeout: float = 40.0) -> bool:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                return False
            if line.startswith("ready "):
                self.ready = json.loads(line[6:])
                return True
        return False

    def error_tail(self) -> str:
        """The last line the child wrote to stderr (why it failed)."""
        with contextlib.suppress(OSError, ValueError):
            self.stderr.seek(0)
            lines = [line.strip() for line in self.stderr.read().splitlines() if line.strip()]
            return lines[-1] if lines else ""
        return ""

    def stop(self) -> dict[str, Any]:
        assert self.proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.write("stop\n")
            self.proc.stdin.flush()
        try:
            out, _ = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        for line in out.splitlines():
            if line.startswith("done "):
                self.done = json.loads(line[5:])
        return self.done


def measure_daemon(calls: int, seconds: float, pcap: PcapCapture | None) -> dict[str, Any]:
    capturing = pcap.start() if pcap is not None else False
    run = DaemonRun(calls, seconds + 35.0)
    result: dict[str, Any] = {"calls": calls, "seconds": seconds}
    try:
        if not run.wait_ready():
            result["error"] = f"the daemon did not come up: {run.error_tail() or 'no output'}"
            return result
        result["ready"] = run.ready
        states = run.ready.get("states", [])
        if calls and states != ["connected", "connected"]:
            result["warning"] = f"the call did not connect (ports {states})"
        pid = run.proc.pid
        result["rss_start_mib"] = proc_rss_mib(pid)
        m0, t0, c0 = machine_ticks(), time.monotonic(), proc_cpu_seconds(pid)
        time.sleep(seconds)  # the measurement window (benchmark choreography)
        t1, c1 = time.monotonic(), proc_cpu_seconds(pid)
        result["machine"] = machine_load(m0, machine_ticks())
        result["cpu_s"] = c1 - c0
        result["wall_s"] = t1 - t0
        result["rss_mib"] = proc_rss_mib(pid)
        result["memory"] = proc_memory(pid)
        result["window_ns"] = (time.time_ns() - int((t1 - t0) * 1e9), time.time_ns())
    finally:
        result["done"] = run.stop()
        if capturing and pcap is not None:
            rows = pcap.stop()
            lo, hi = result.get("window_ns", (0, 0))
            ours = set(run.ready.get("rtp_ports", []))
            # Only the daemon's own streams: other programs may use lo meanwhile.
            result["streams"] = {
                key: pacing_stats(r)
                for key, r in streams([row for row in rows if lo <= row[0] <= hi]).items()
                if key[0] in ours and len(r) > 50
            }
    return result


# --- baresip --------------------------------------------------------------------------------


def measure_baresip(calls: int, seconds: float) -> dict[str, Any]:
    from ata.dsp.wavio import write_wav
    from ata.runtime.media_clock import tone_frames

    work = Path(tempfile.mkdtemp(prefix="bench-load-baresip-"))
    wav = work / "tone.wav"
    gen = tone_frames(1000.0, 6000.0)
    write_wav(wav, np.concatenate([gen(k) for k in range(int((seconds + 20) / 0.02))]))
    probe = Probe("reflect", seconds + 6.0 + 2.0 * calls)
    result: dict[str, Any] = {"calls": calls, "seconds": seconds}
    ua = None
    try:
        ua = start_baresip(
            work / "ua", BaresipSetup(source=f"aufile,{wav}", player="aufile,/dev/null"), wav
        )
        for _ in range(calls):
            ua.command("dial", f"sip:probe@127.0.0.1:{probe.sip_port}")
            time.sleep(1.0)  # let each call set up; benchmark choreography
        pid = ua.process.pid
        time.sleep(0.5)
        m0, c0, t0 = machine_ticks(), proc_cpu_seconds(pid), time.monotonic()
        time.sleep(seconds)
        c1, t1 = proc_cpu_seconds(pid), time.monotonic()
        result["machine"] = machine_load(m0, machine_ticks())
        result["cpu_s"] = c1 - c0
        result["wall_s"] = t1 - t0
        result["rss_mib"] = proc_rss_mib(pid)
        result["calls_listed"] = str(ua.command("listcalls").get("data", "")).count("sip:")
        with contextlib.suppress(Exception):
            ua.command("hangup")
            ua.command("hangup")
    except Exception as exc:  # a peer failing must not stop the benchmark
        result["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        if ua is not None:
            ua.stop()
    data = probe.result()
    by_ssrc: dict[int, list[tuple[int, int, int]]] = {}
    for ns, ssrc, seq, ts, pt, _port in data.get("rows", []):
        if pt == 0:
            by_ssrc.setdefault(ssrc, []).append((ns, seq, ts))
    result["answered"] = data.get("calls", 0)
    result["streams"] = {
        f"ssrc {ssrc:08x}": pacing_stats(rows[50:-50])  # skip set-up and tear-down
        for ssrc, rows in by_ssrc.items()
        if len(rows) > 150
    }
    shutil.rmtree(work, ignore_errors=True)
    return result


# --- report ---------------------------------------------------------------------------------


def _pacing_row(label: str, s: dict[str, float]) -> None:
    if "dev_p50_ms" not in s:
        print(f"  {label:<34} no data ({s.get('packets', 0):.0f} packets)")
        return
    missed = [
        name
        for name, limit in TARGETS.items()
        if (abs(s[name]) if name == "drift_ppm" else s[name]) > limit
    ]
    verdict = "targets met" if not missed else "MISSED: " + ", ".join(missed)
    print(
        f"  {label:<34} {s['packets']:>6.0f} {s['dev_p50_ms']:7.3f} {s['dev_p99_ms']:7.3f} "
        f"{s['dev_max_ms']:7.3f} {s['jitter_J_ms']:7.3f} {s['drift_ppm']:+8.1f} "
        f"{s['drift_ms']:+8.2f}  {verdict}"
    )


def _pacing_header() -> None:
    print(
        f"  {'stream':<34} {'pkts':>6} {'p50':>7} {'p99':>7} {'max':>7} {'J':>7} "
        f"{'ppm':>8} {'drift':>8}   (|Δ−20ms| and J in ms; drift ms end to end)"
    )
    print(f"  {'targets':<34} {'':>6} {'':>7} {'≤0.5':>7} {'≤3':>7} {'≤0.2':>7} {'≤±50':>8}")


def _cpu_line(label: str, r: dict[str, Any], legs: int) -> float | None:
    if "cpu_s" not in r:
        print(f"  {label:<40} not measured: {r.get('error', 'no data')}")
        return None
    per_s = float(r["cpu_s"]) / float(r["wall_s"]) * 1000.0  # ms of CPU per second
    per_call = per_s / legs if legs else per_s
    what = f"{per_call:7.2f} ms CPU per call-second" if legs else f"{per_s:7.2f} ms CPU per second"
    print(
        f"  {label:<40} {what}  ({per_s / 10.0:5.2f} % of one core)  RSS {r['rss_mib']:6.1f} MiB"
        f"  [{r.get('machine', '')}]"
    )
    return per_call


def wake_floor(seconds: float = 5.0) -> float:
    """ms of CPU per second that a bare asyncio loop waking every 20 ms (the project's
    MonotonicClock, absolute deadlines) costs on this machine: the floor under any 50 Hz
    audio loop, simulated codec or ALSA."""
    from hal.clock import MonotonicClock

    async def run() -> float:
        clock = MonotonicClock()
        warm = clock.now()
        for k in range(1, 26):  # half a second of warm-up (first timer set-up, caches)
            await clock.sleep_until(warm + k * 0.02)
        start, cpu0, k = clock.now(), time.process_time(), 0
        while clock.now() - start < seconds:
            k += 1
            await clock.sleep_until(start + k * 0.02)
        return (time.process_time() - cpu0) / (clock.now() - start) * 1000.0

    return asyncio.run(run())


def _split_ms(r: dict[str, Any]) -> dict[str, float] | None:
    """The daemon's own CPU split (ms of CPU per second) over its measured window."""
    sp = r.get("done", {}).get("split")
    if not sp or sp.get("wall_s", 0.0) <= 0.0:
        return None
    wall, parts = float(sp["wall_s"]), sp.get("parts_s", {})
    out = {name: float(parts.get(name, 0.0)) / wall * 1000.0 for name in PARTS}
    out["total"] = float(sp["cpu_s"]) / wall * 1000.0
    out["rest"] = out["total"] - sum(out[name] for name in PARTS)
    out["pipeline_calls"] = float(sp.get("calls", {}).get("pipeline", 0)) / wall
    for name in SUBPARTS:
        out[name] = float(parts.get(name, 0.0)) / wall * 1000.0
    out["rtp_rx_calls"] = float(sp.get("calls", {}).get("rtp_rx", 0)) / wall
    return out


def _pi(ms_per_s: float) -> str:
    core = ms_per_s / 10.0
    return (
        f"{core:.1f} % of a core here → Pi 4 ≈ {core * PI4[0]:.0f}–{core * PI4[1]:.0f} %, "
        f"Zero 2 W ≈ {core * ZERO2W[0]:.0f}–{core * ZERO2W[1]:.0f} %"
    )


def _report_split(
    idle: dict[str, Any], busy: dict[str, Any], b1_cpu: float | None, floor: float
) -> None:
    """Simulator vs pi-ata: the CPU inside the daemon by part, and the product's numbers."""
    si, sb = _split_ms(idle), _split_ms(busy)
    if si is None or sb is None:
        print("  (no CPU split: the daemon child did not report one)")
        return
    print(
        "\nWhere the daemon's CPU goes (thread CPU time around each part, inside the daemon, "
        "over the same windows; ms of CPU per second)"
    )
    print(f"  {'part':<58} {'idle':>7} {'2 calls':>8} {'per call-s':>11}")
    labels = {
        "sim": "simulator: SimCodec links, virtual phones (ALSA on a board)",
        "pipeline": "pi-ata port pipeline (_process_frame: EC, DTMF, RTP out)",
        "rtp_rx": "pi-ata RTP receive (_on_rtp: parse, jitter buffer)",
        "rest": "event loop + 50 Hz wake-ups, SIP, registrar, timers",
        "total": "whole daemon (its own process_time)",
    }
    for name, label in labels.items():
        print(f"  {label:<58} {si[name]:7.2f} {sb[name]:8.2f} {sb[name] / 2:11.2f}")
    for what, r in (("idle", idle), ("2 calls", busy)):
        frames = r.get("done", {}).get("port_frames") or []
        if frames:
            text = "; ".join(
                f"port {n}: {f['idle_frames']} idle, {f['dtmf_frames']} DTMF rx, "
                f"{f['echo_frames']} EC"
                for n, f in enumerate(frames, 1)
            )
            print(f"  frames by path, {what}: {text}")
    per_frame = sb["pipeline"] * 1000.0 / max(sb["pipeline_calls"], 1.0)
    idle_frame = si["pipeline"] * 1000.0 / max(si["pipeline_calls"], 1.0)
    product_idle = si["total"] - si["sim"]
    product_busy = sb["total"] - sb["sim"]
    per_call = product_busy / 2.0
    own = (product_busy - product_idle) / 2.0
    pipe_call = (sb["pipeline"] + sb["rtp_rx"]) / 2.0
    print("\npi-ata without the simulator (the daemon's CPU minus the simulator's part)")
    print(
        f"  idle: {product_idle:.2f} ms/s, of which the idle ports' per-frame work "
        f"{si['pipeline']:.2f} ms/s ({idle_frame:.1f} µs a frame); a bare asyncio loop waking "
        f"every 20 ms costs {floor:.2f} ms/s here (the floor under any 50 Hz codec loop); the "
        f"rest is SIP, registrar, timers; {_pi(product_idle)}"
    )
    ratio = f" = {per_call / b1_cpu:.1f}× baresip's {b1_cpu:.1f}" if b1_cpu else ""
    verdict = ""
    if b1_cpu:
        verdict = "  (target ≤ 2×: " + ("met)" if per_call <= 2.0 * b1_cpu else "MISSED)")
    print(
        f"  two calls: {product_busy:.2f} ms/s = {per_call:.2f} ms per call-second{ratio}{verdict}"
    )
    if b1_cpu:
        print(
            f"    calls' own cost (two calls − idle, both without the simulator): {own:.2f} ms "
            f"per call-second = {own / b1_cpu:.1f}× baresip"
        )
    print(
        f"    of which the per-frame pipeline + RTP receive: {pipe_call:.2f} ms per call-second "
        f"({per_frame:.0f} µs per frame in _process_frame)"
    )
    frames_s = max(sb["pipeline_calls"], 1.0)
    sub = {name: sb[name] * 1000.0 / frames_s for name in SUBPARTS}
    other = per_frame - sum(sub.values())
    print(
        f"    a frame in the call (µs, in the daemon, caches cold between 20 ms ticks): echo "
        f"canceller {sub['ec']:.0f}, DTMF receiver {sub['dtmf']:.0f}, encode + RTP send "
        f"{sub['rtp_tx']:.0f}, jitter buffer playout {sub['playout']:.0f}, the rest {other:.0f}; "
        f"RTP receive {sb['rtp_rx'] * 1000.0 / max(sb['rtp_rx_calls'], 1.0):.0f} per packet"
    )
    print(f"  Pi estimate, two calls without the simulator: {_pi(product_busy)}")
    print(f"  Pi estimate, whole two-call daemon with the simulator: {_pi(sb['total'])}")


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child-daemon":
        asyncio.run(_daemon_child(int(sys.argv[2]), float(sys.argv[3]), "--profile" in sys.argv))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured window per run")
    parser.add_argument("--quick", action="store_true", help="10 s windows")
    parser.add_argument("--no-baresip", action="store_true")
    parser.add_argument("--profile", action="store_true", help="also profile the daemon's calls")
    args = parser.parse_args()
    seconds = 10.0 if args.quick else args.seconds
    print("Calls under load: send-interval jitter, CPU per call-second, RSS")
    print(f"  machine: {cpu_model()}; {uptime()}; Python {sys.version.split()[0]}")
    print(f"  window {seconds:.0f} s per run\n")

    pcap = PcapCapture()
    busy = measure_daemon(2, seconds, pcap)
    idle = measure_daemon(0, min(seconds, 20.0), None)
    reason = "baresip: skipped (--no-baresip)" if args.no_baresip else baresip_available()
    b1: dict[str, Any] = {"error": reason}
    b2: dict[str, Any] = {"error": reason}
    if not reason:
        b1 = measure_baresip(1, seconds)
        b2 = measure_baresip(2, seconds)

    print("RTP send intervals (kernel timestamps on lo)")
    _pacing_header()
    if busy.get("streams"):
        for n, (key, s) in enumerate(sorted(busy["streams"].items()), 1):
            _pacing_row(f"pi-ata daemon, port leg {n} (:{key[0]})", s)
    else:
        why = busy.get("error") or pcap.reason or "no RTP captured"
        print(f"  pi-ata daemon: send pacing not measured ({why})")
    for label, r in (("baresip 1 call", b1), ("baresip 2 calls", b2)):
        if r.get("streams"):
            for key, s in sorted(r["streams"].items()):
                _pacing_row(f"{label}, {key}", s)
        else:
            print(f"  {label}: {r.get('error') or 'no stream received'}")
    ours = [s for s in busy.get("streams", {}).values() if "dev_p99_ms" in s]
    theirs = [s for s in b1.get("streams", {}).values() if "dev_p99_ms" in s]
    if ours and theirs:
        worst = max(s["dev_p99_ms"] for s in ours)
        ref = max(s["dev_p99_ms"] for s in theirs)
        j_ours = max(s["jitter_J_ms"] for s in ours)
        j_ref = max(s["jitter_J_ms"] for s in theirs)
        print(f"  ratio pi-ata / baresip (1 call): p99 {worst / ref:.2f}, J {j_ours / j_ref:.2f}")

    print("\nCPU and memory (utime+stime from /proc/PID/stat over the window; VmRSS at its end)")
    ours_cpu = _cpu_line("pi-ata daemon, 2 ports in a call", busy, 2)
    _cpu_line("pi-ata daemon, idle (registered, no call)", idle, 0)
    b1_cpu = _cpu_line("baresip 1.0, 1 call (aufile, reflected)", b1, 1)
    b2_cpu = _cpu_line("baresip 1.0, 2 calls", b2, 2)
    if ours_cpu is not None:
        for ref, label in ((b1_cpu, "1 call"), (b2_cpu, "2 calls")):
            if ref:
                print(
                    f"  ratio whole pi-ata daemon (simulator included) / baresip ({label}) CPU per "
                    f"call-second: {ours_cpu / ref:.1f}"
                )
    if "rss_mib" in busy:
        verdict = "met" if busy["rss_mib"] <= 60.0 else "MISSED"
        mem = busy.get("memory", {})
        print(
            f"  daemon RSS with two calls {busy['rss_mib']:.1f} MiB (target ≤ 60 MB: {verdict}); "
            f"PSS {mem.get('pss', float('nan')):.1f} MiB, private (USS) "
            f"{mem.get('uss', float('nan')):.1f} MiB; idle RSS {idle.get('rss_mib', 0.0):.1f} MiB"
        )
        print(
            f"  daemon RSS across the call window: {busy.get('rss_start_mib', 0.0):.1f} → "
            f"{busy['rss_mib']:.1f} MiB (growth would mean a leak)"
        )
    _report_split(idle, busy, b1_cpu, wake_floor())
    if busy.get("warning"):
        print(f"  WARNING: {busy['warning']}: the numbers above are not of a call")
    done = busy.get("done", {})
    print(
        f"  daemon state: registered {busy.get('ready', {}).get('registered')}, ports "
        f"{busy.get('ready', {}).get('states')}, sim codec slips {done.get('clock_slips')}, "
        f"media {done.get('media')}"
    )
    moves = busy.get("ready", {}).get("phase_moves_ms")
    if moves is not None:
        print(
            f"  playout phase alignment: each leg's frame grid moved once before the window, by "
            f"{', '.join(f'{m:.1f}' for m in moves)} ms (a one-time step in that leg's send times)"
        )
    late = done.get("wake_late_ms") or {}
    if late:
        print(
            f"  SimCodec wake-up after its 20 ms deadline (the daemon's send clock): p50 "
            f"{late['p50']:.3f}, p99 {late['p99']:.3f}, max {late['max']:.3f} ms"
        )
    if args.profile:
        for calls, what in ((2, "two ports in a call"), (0, "idle")):
            window = min(seconds, 15.0)
            prof = DaemonRun(calls, window + 20.0, profile=True)
            if prof.wait_ready():
                time.sleep(window)
                done_info = prof.stop()
                text = done_info.get("profile", "")
                pipe = done_info.get("pipeline_s") or {}
                if calls and pipe:
                    total = sum(pipe.values())
                    print(
                        f"\n  pi-ata's own per-call work under cProfile (port pipeline "
                        f"{pipe.get('_process_frame', 0.0):.3f} s + RTP receive "
                        f"{pipe.get('_on_rtp', 0.0):.3f} s in {window:.0f} s, 2 legs): "
                        f"{total / window / 2 * 1000:.2f} ms per call-second (profiling "
                        f"inflates this; the simulator is excluded)"
                    )
                print(f"\nProfile of the daemon, {what}, {window:.0f} s (cProfile, by own time):")
                lines = [line for line in text.splitlines() if line.strip()]
                print("\n".join(line for line in lines[:40] if "epoll" not in line))
    print(f"\n  after the runs: {uptime()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
