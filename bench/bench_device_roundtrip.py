"""Device round trip: RTP in → jitter buffer → playout → simulated line (loopback) → capture →
RTP out, on pi-ata's real media path, against baresip 1.0 looped through ``aubridge``.

Run: ``python bench/bench_device_roundtrip.py [--seconds 12] [--quick] [--no-baresip]``.
Prints numbers and ratios; never pass/fail.

Method. An independent probe process (``tests/bench_support/probe.py``) sends one PCMU packet
every 20 ms at absolute deadlines of its own monotonic clock: silence, and every 300 ms a unique
pseudo-random burst one frame long. It timestamps every returned packet in the kernel
(``SO_TIMESTAMPNS``), cross-correlates the returned audio with each burst and reports, per
burst, *arrival of the packet carrying its last sample − send time of the packet carrying it*.

pi-ata side (this process): a :class:`hal.sim.audio.SimCodec` on a :class:`hal.clock.
MonotonicClock` ticks a :class:`SimAudioPort` in **loopback** (what is played is captured again,
no extra delay); :meth:`RtpSession.run` reads each captured frame, sends it as RTP and writes
one pulled jitter-buffer frame to the port — the same send/pull pairing as the port driver's
per-frame loop. (The port driver itself is not in this loop: its echo canceller would cancel a
pure loopback, which is its job.) Structural floor: the frame pulled at tick k is played and
captured at tick k+1, so one period (20 ms) plus the wait for the next tick plus the jitter-buffer
delay. The wait is what playout phase alignment (``ata.media.phase``) removes: once the jitter
buffer's goal has settled, the port's frame grid moves once so that ticks fall just after the
probe's packets arrive (2 ms margin), whatever the phase; the runs warm up long enough for that
(MINIMUM 4 s, ADAPTIVE 10 s; ``--quick`` 4 s and 8 s) and ``--no-align`` shows the grid left
where it started (then the wait is 0–20 ms, uniform against the probe's phase).

baresip side: baresip 1.0 dials the probe (the probe answers SIP), with ``audio_source`` and
``audio_player`` both ``aubridge,<device>`` (baresip's own software loop: the player feeds the
source), at ``jitter_buffer_delay 1-10`` (its smallest start delay) and ``5-10`` (its default).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ata.dsp.wavio import write_wav  # noqa: E402
from ata.media.jitter import JitterConfig, JitterMode  # noqa: E402
from ata.media.phase import AlignerConfig  # noqa: E402
from ata.media.session import MediaConfig  # noqa: E402
from ata.runtime.rtp_session import RtpSession  # noqa: E402
from hal.clock import MonotonicClock  # noqa: E402
from hal.sim.audio import SimAudioPort, SimCodec  # noqa: E402
from tests.bench_support.common import (  # noqa: E402
    BaresipSetup,
    Probe,
    baresip_available,
    cpu_model,
    percentiles,
    start_baresip,
    uptime,
)

TARGETS = {"minimum": (30.0, 40.0), "adaptive": (50.0, None)}


async def _piata(
    mode: JitterMode, measure_s: float, warmup_s: float, phase_ms: float, align: bool
) -> dict[str, Any]:
    probe = Probe("roundtrip", warmup_s + measure_s, warmup_s)
    codec = SimCodec(MonotonicClock())
    port = SimAudioPort(name="loop0")
    codec.connect(port, loopback=True, loopback_delay=0)
    session = await RtpSession.open(
        MediaConfig(
            local_ssrc=0x0A7A0001,
            remote_rtp=("127.0.0.1", probe.rtp_port),
            jitter=JitterConfig(mode=mode),
            align=AlignerConfig(enabled=align),
        )
    )
    await port.start()
    ticks_from = time.monotonic_ns()  # SimCodec.start() takes its origin from the same clock
    codec.start()
    runner = asyncio.get_running_loop().create_task(session.run(port, port))
    # Packets leave phase_ms after a codec tick (arrive ~0.1 ms later).
    probe.target("127.0.0.1", session.local_rtp[1], ticks_from + int(phase_ms * 1e6))
    result = await asyncio.to_thread(probe.result)
    jb = session.stats().jitter_buffer
    result["jb"] = f"delay {jb.delay_ms:.1f} ms, target {jb.target_ms:.1f} ms" if jb else ""
    result["slips"] = codec.clock_slips
    result["moved"] = session.stats().phase_advanced_ms
    await session.close()
    await codec.stop()
    await port.close()
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await runner
    return result


def _baresip(jitter: str, measure_s: float, warmup_s: float, work: Path) -> dict[str, Any]:
    wav = work / "unused.wav"
    write_wav(wav, np.zeros(8000, np.int16))
    setup = BaresipSetup(source="aubridge,benchloop", player="aubridge,benchloop", jitter=jitter)
    probe = Probe("roundtrip", warmup_s + measure_s, warmup_s)
    ua = None
    try:
        ua = start_baresip(work / jitter.replace(" ", "_"), setup, wav)
        ua.command("dial", f"sip:probe@127.0.0.1:{probe.sip_port}")
        result = probe.result()
        with contextlib.suppress(Exception):
            ua.command("hangup")
        if not result.get("received"):
            result["error"] = (
                result.get("error", "")
                + " baresip sent no audio back; log tail: "
                + ua.log_tail(600).replace("\n", " | ")
            )
        return result
    except Exception as exc:  # a peer failing must not stop the benchmark
        probe.proc.kill()
        return {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        if ua is not None:
            ua.stop()


def _row(label: str, result: dict[str, Any], target: tuple[float, float | None] | None) -> None:
    if result.get("error") and not result.get("latencies_ms"):
        print(f"  {label:<46} no measurement: {result['error'].strip()[:300]}")
        return
    s = percentiles(result.get("latencies_ms", []))
    if not s.get("n"):
        print(f"  {label:<46} no burst came back (sent {result.get('sent')}, "
              f"received {result.get('received')})")  # fmt: skip
        return
    goal = ""
    if target is not None:
        p50_goal, p95_goal = target
        goal = f"  target p50 ≤ {p50_goal:.0f}" + (f", p95 ≤ {p95_goal:.0f}" if p95_goal else "")
        ok = s["p50"] <= p50_goal and (p95_goal is None or s["p95"] <= p95_goal)
        goal += " (met)" if ok else " (MISSED)"
    print(
        f"  {label:<46} n={s['n']:>3.0f}  p50 {s['p50']:6.1f}  p95 {s['p95']:6.1f}  "
        f"min {s['min']:6.1f}  max {s['max']:6.1f} ms  unmatched {result.get('unmatched', 0)}"
        f"{goal}"
    )
    extra = [x for x in (result.get("jb"), f"codec slips {result['slips']}"
             if "slips" in result else "") if x]  # fmt: skip
    if extra:
        print(f"  {'':<46} {'; '.join(extra)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=12.0, help="measured seconds per run")
    parser.add_argument("--quick", action="store_true", help="5 s runs, 2 phases")
    parser.add_argument("--no-baresip", action="store_true")
    parser.add_argument("--no-align", action="store_true", help="no playout phase alignment")
    args = parser.parse_args()
    measure = 5.0 if args.quick else args.seconds
    adaptive_warmup = 8.0 if args.quick else 10.0
    print("Device round trip (RTP in → jitter buffer → playout → line loop → capture → RTP out)")
    print(f"  machine: {cpu_model()}; {uptime()}; Python {sys.version.split()[0]}")
    print(f"  {measure:.0f} s measured per run, a burst every 300 ms; latency in ms\n")
    results: dict[str, dict[str, Any]] = {}
    # The far end's packet clock has some phase against the codec's ticks; the round trip
    # depends on it (a packet waits for the next tick), so pi-ata is measured at several
    # phases and the pooled distribution is what a random phase gives.
    phases = (4.0, 14.0) if args.quick else (1.0, 5.0, 9.0, 13.0, 17.0)
    for key, mode, warm, label in (
        ("minimum", JitterMode.MINIMUM, 4.0, "pi-ata, jitter buffer MINIMUM"),
        ("adaptive", JitterMode.ADAPTIVE, adaptive_warmup,
         f"pi-ata, ADAPTIVE (default) after {adaptive_warmup:.0f} s"),
    ):  # fmt: skip
        pooled: dict[str, Any] = {"latencies_ms": [], "unmatched": 0, "jb": []}
        per_phase = []
        for phase in phases:
            r = asyncio.run(_piata(mode, measure, warm, phase, not args.no_align))
            lat = r.get("latencies_ms", [])
            pooled["latencies_ms"] += lat
            pooled["unmatched"] += int(r.get("unmatched", 0))
            if r.get("error"):
                pooled["error"] = r["error"]
            p = percentiles(lat)
            jb = str(r.get("jb", "")).split(",")[0].replace("delay ", "jb ")
            moved = f", grid moved {r.get('moved', 0.0):.1f} ms"
            per_phase.append(f"{phase:.0f} ms: {p.get('p50', float('nan')):.1f} ({jb}{moved})")
        pooled["jb"] = ""
        results[key] = pooled
        _row(f"{label}, {len(phases)} phases", pooled, TARGETS[key])
        print(f"  {'':<46} p50 by phase of arrival after a codec tick: " + "; ".join(per_phase))
    reason = "" if not args.no_baresip else "baresip: skipped (--no-baresip)"
    reason = reason or baresip_available()
    if reason:
        print(f"  {reason}")
    else:
        work = Path(tempfile.mkdtemp(prefix="bench-rt-baresip-"))
        for key, jitter, warm in (
            ("b_min", "jitter_buffer_delay 1-10", 1.0),
            ("b_def", "jitter_buffer_delay 5-10", adaptive_warmup),
        ):
            results[key] = _baresip(jitter, measure, warm, work)
            label = "minimum start delay" if key == "b_min" else "default"
            _row(f"baresip 1.0 aubridge, {jitter.split()[1]} ({label})", results[key], None)
        shutil.rmtree(work, ignore_errors=True)
    print()
    for ours, theirs, what in (
        ("minimum", "b_min", "minimum buffer"),
        ("adaptive", "b_def", "default buffer"),
    ):
        a = percentiles(results.get(ours, {}).get("latencies_ms", []))
        b = percentiles(results.get(theirs, {}).get("latencies_ms", []))
        if a.get("n") and b.get("n"):
            print(
                f"  ratio pi-ata / baresip, {what}: p50 {a['p50'] / b['p50']:.2f}, "
                f"p95 {a['p95'] / b['p95']:.2f}"
            )
    print(f"  after the runs: {uptime()}")
    return 0


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"  ({time.monotonic() - started:.0f} s; pid {os.getpid()})")
    sys.exit(code)
