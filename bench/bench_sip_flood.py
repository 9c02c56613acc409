"""INVITE flood from a stranger: what it costs pi-ata to ignore it, vs Kamailio, same run.

sipp (``tests/integration/sipp/invite_flood.xml``: one INVITE with SDP per call, never
retransmitted) floods from 127.0.0.2 — not the proxy — at each rate for a few seconds:

* **pi-ata**: a :class:`~ata.runtime.calls.CallManager` in this process, its line registered
  at a real Kamailio, under three ghost-call set-ups: ``filter`` (the default: the transport
  drops strangers before parsing), ``gate`` (transport filter off: the per-source rate limit,
  then the manager's gate drop them), ``gate-no-limit`` (no rate limit either: every INVITE is
  parsed and refused by the gate). Measured: INVITEs seen vs sent, where they were dropped,
  CPU µs per INVITE (``getrusage`` of this process over the flood, minus its idle rate
  measured just before), the worst lateness of a
  10 ms timer on the event loop (how late signalling would be), RSS growth, and whether the
  line is still registered and no call rang.
* **Kamailio** (reference): the same flood at its UDP port (it challenges each INVITE with 407
  statelessly); CPU µs per INVITE summed over its process group from ``/proc`` (10 ms
  ticks: use longer runs for low rates), minus its idle rate.

Run: ``python bench/bench_sip_flood.py [--seconds 5] [--rates 200,1000,5000]``.
Prints numbers and ratios; never pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ata.line import port as lp  # noqa: E402
from ata.runtime.calls import CallManager, CallPolicy  # noqa: E402
from ata.runtime.sip_endpoint import SipEndpoint  # noqa: E402
from ata.runtime.sip_transport import TransportConfig  # noqa: E402
from ata.sip.registration import RegState  # noqa: E402
from tests.integration.calls_support import account  # noqa: E402
from tests.peers import free_port  # noqa: E402
from tests.peers.fixtures import DEFAULT_USERS  # noqa: E402
from tests.peers.kamailio import Kamailio  # noqa: E402

IDLE_S = 2.0
SCENARIO = ROOT / "tests" / "integration" / "sipp" / "invite_flood.xml"
MODES = {
    "filter": (CallPolicy(), 50.0),
    "gate": (CallPolicy(transport_filter=False), 50.0),
    "gate-no-limit": (CallPolicy(transport_filter=False), 0.0),
}


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def group_cpu(pgrp: int) -> float:
    """utime + stime of every process in group ``pgrp`` (Kamailio forks its workers)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgrp:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def flood(sipp: str, target: tuple[str, int], user: str, rate: int, seconds: float) -> Any:
    total = int(rate * seconds)
    return subprocess.Popen(
        [sipp, "-sf", str(SCENARIO), f"{target[0]}:{target[1]}", "-s", user,
         "-i", "127.0.0.2", "-p", str(free_port(also_tcp=False)), "-r", str(rate),
         "-m", str(total), "-nr", "-nostdin", "-timeout", str(int(seconds) + 20)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


async def lag_probe(stop: asyncio.Event, worst: list[float]) -> None:
    """How late a 10 ms timer fires while the loop also serves the flood."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        due = loop.time() + 0.010
        await asyncio.sleep(0.010)  # the probe's own pacing
        worst[0] = max(worst[0], loop.time() - due)


async def bench_pi_ata(
    k: Kamailio, sipp: str, mode: str, rate: int, seconds: float
) -> dict[str, Any]:
    policy, per_source = MODES[mode]
    endpoint = SipEndpoint(
        TransportConfig(host="127.0.0.1", udp_port=0, rate_per_second=per_source)
    )
    manager = CallManager(
        endpoint, [account(k, "1001")], policy=policy, rtp_port_range=(46000, 46999),
        own_endpoint=True,
    )  # fmt: skip
    rang: list[lp.Event] = []
    manager.attach(0, rang.append)
    await manager.start()
    try:
        line = manager.lines[0]
        assert line is not None
        assert line.registration is not None
        state = await asyncio.wait_for(
            endpoint.wait_for(line.registration, {RegState.REGISTERED, RegState.FAILED}), 10
        )
        if state is not RegState.REGISTERED:
            raise RuntimeError("the line did not register")
        transport = endpoint.transport
        loop = asyncio.get_running_loop()
        target = transport.local_address("udp")
        gc.collect()
        stop, worst = asyncio.Event(), [0.0]
        probe = asyncio.ensure_future(lag_probe(stop, worst))
        cpu0, t0 = cpu_self(), loop.time()
        await asyncio.sleep(IDLE_S)  # the idle cost of the loop, the probe, registration
        idle_per_s = (cpu_self() - cpu0) / (loop.time() - t0)
        worst[0] = 0.0
        rss0, cpu0, t0 = rss_kb(), cpu_self(), loop.time()
        proc = flood(sipp, target, "1001", rate, seconds)
        await asyncio.to_thread(proc.wait)
        await asyncio.sleep(0.3)  # datagrams still queued
        cpu = cpu_self() - cpu0 - idle_per_s * (loop.time() - t0)
        stop.set()
        await probe
        c = transport.counters
        seen = c.dropped_source + c.dropped_rate + manager.counters["ghost_source"]
        gc.collect()
        return {
            "sent": int(rate * seconds),
            "seen": seen,
            "source": c.dropped_source,
            "rate_limited": c.dropped_rate,
            "gate": manager.counters["ghost_source"],
            "cpu_us": 1e6 * cpu / max(1, seen),
            "lag_ms": 1000 * worst[0],
            "rss_kb": rss_kb() - rss0,
            "registered": manager.registered(0) and bool(k.contacts("1001")),
            "rang": sum(isinstance(e, lp.IncomingCall) for e in rang),
        }
    finally:
        await manager.stop(grace=1.0)


def bench_kamailio(k: Kamailio, sipp: str, rate: int, seconds: float) -> dict[str, Any]:
    assert k.process is not None
    pgrp = k.process.pid
    cpu0, t0 = group_cpu(pgrp), time.monotonic()
    time.sleep(IDLE_S)  # Kamailio's idle cost (timer processes) over the same kind of window
    idle_per_s = (group_cpu(pgrp) - cpu0) / (time.monotonic() - t0)
    cpu0, t0 = group_cpu(pgrp), time.monotonic()
    proc = flood(sipp, (k.host, k.port), "1001", rate, seconds)
    proc.wait()
    cpu = group_cpu(pgrp) - cpu0 - idle_per_s * (time.monotonic() - t0)
    sent = int(rate * seconds)
    return {"sent": sent, "cpu_us": 1e6 * cpu / max(1, sent)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rates", default="200,1000,5000")
    args = parser.parse_args()
    sipp = shutil.which("sipp")
    if sipp is None or shutil.which("kamailio") is None:
        print("needs sipp and kamailio (sudo make peers)")
        return
    rates = [int(r) for r in args.rates.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        k = Kamailio(workdir=Path(tmp), users=dict(DEFAULT_USERS))
        k.start()
        try:
            print(f"INVITE flood from 127.0.0.2 for {args.seconds:g} s per run (sipp)\n")
            print(
                f"{'peer / mode':<22}{'rate/s':>7}{'seen/sent':>13}{'source':>8}{'limit':>8}"
                f"{'gate':>7}{'CPU µs/INV':>12}{'loop lag':>10}{'ΔRSS':>9}  line / rang"
            )
            for rate in rates:
                ref = bench_kamailio(k, sipp, rate, args.seconds)
                print(
                    f"{'kamailio (407s)':<22}{rate:>7}{'':>13}{'':>8}{'':>8}{'':>7}"
                    f"{ref['cpu_us']:>12.1f}"
                )
                for mode in MODES:
                    r = await bench_pi_ata(k, sipp, mode, rate, args.seconds)
                    ratio = r["cpu_us"] / ref["cpu_us"] if ref["cpu_us"] > 0 else float("nan")
                    print(
                        f"{'pi-ata ' + mode:<22}{rate:>7}{r['seen']:>7}/{r['sent']:<5}"
                        f"{r['source']:>8}{r['rate_limited']:>8}{r['gate']:>7}"
                        f"{r['cpu_us']:>12.1f}{r['lag_ms']:>8.1f}ms{r['rss_kb']:>7}kB  "
                        f"{'registered' if r['registered'] else 'LOST'} / {r['rang']}"
                        f"   ({ratio:.2f}x kamailio CPU)"
                    )
                print()
        finally:
            k.stop()


if __name__ == "__main__":
    asyncio.run(main())
