"""REGISTER round trip with digest auth against a real Kamailio: pi-ata vs sipsak, same run.

Both clients do the same exchange on UDP over loopback: REGISTER → 401 (challenge) →
REGISTER with credentials → 200. pi-ata is timed from ``add_registration`` (which builds the
request, hands it to the transaction layer and the transport) until the registration reports
REGISTERED; its un-REGISTER (one round trip, pre-emptive credentials) is timed too. sipsak
(``-U`` usrloc mode, ``-vv``) reports its own "received last message X ms after first
request" figure (which includes sipsak's own ~10 ms receive pacing) and the slowest single
request/response delay; its process wall time is shown separately (includes start-up).

Run: ``python bench/bench_sip_register.py [iterations]``  (needs kamailio and sipsak)
"""

from __future__ import annotations

import asyncio
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ata.runtime.sip_endpoint import SipEndpoint, aor  # noqa: E402
from ata.runtime.sip_transport import TransportConfig  # noqa: E402
from ata.sip.registration import RegistrationConfig, RegState  # noqa: E402
from tests.peers.fixtures import DEFAULT_USERS  # noqa: E402
from tests.peers.kamailio import Kamailio  # noqa: E402


def summary(name: str, values_ms: list[float]) -> str:
    values = sorted(values_ms)
    p95 = values[min(len(values) - 1, int(0.95 * len(values)))]
    return (
        f"{name:<34} n={len(values):4d}  median {statistics.median(values):7.3f} ms  "
        f"p95 {p95:7.3f} ms  min {values[0]:7.3f} ms"
    )


async def bench_pi_ata(k: Kamailio, iterations: int) -> tuple[list[float], list[float]]:
    endpoint = SipEndpoint(TransportConfig(host="127.0.0.1", udp_port=0))
    await endpoint.start()
    register_ms: list[float] = []
    unregister_ms: list[float] = []
    try:
        for _ in range(iterations):
            config = RegistrationConfig(
                aor=aor(f"sip:alice@{k.realm}"),
                password=k.users["alice"],
                registrar=aor(f"sip:{k.host}:{k.port}"),
                expires=300,
            )
            start = time.perf_counter()
            line = await endpoint.add_registration(config, "udp")
            state = await asyncio.wait_for(
                endpoint.wait_for(line, {RegState.REGISTERED, RegState.FAILED}), 10
            )
            register_ms.append((time.perf_counter() - start) * 1000)
            if state is not RegState.REGISTERED:
                raise RuntimeError(f"registration failed: {line.registration.status}")
            start = time.perf_counter()
            await endpoint.remove_registration(line, grace=10)
            unregister_ms.append((time.perf_counter() - start) * 1000)
            if line.registration.state is not RegState.STOPPED:
                raise RuntimeError("un-registration did not complete")
    finally:
        await endpoint.stop(grace=1.0)
    return register_ms, unregister_ms


def bench_sipsak(k: Kamailio, iterations: int) -> tuple[list[float], list[float], list[float]]:
    sipsak = shutil.which("sipsak")
    if sipsak is None:
        return [], [], []
    reported: list[float] = []
    biggest: list[float] = []
    wall: list[float] = []
    pattern = re.compile(r"received last message ([0-9.]+) ms after first request")
    rtt_pattern = re.compile(r"biggest delay between request and response was ([0-9.]+) ms")
    for _ in range(iterations):
        start = time.perf_counter()
        result = subprocess.run(
            [
                sipsak,
                "-U",
                "-i",
                "-C",
                "sip:carol@127.0.0.1:45999",
                "-x",
                "300",
                "-s",
                f"sip:carol@{k.host}:{k.port}",
                "-u",
                "carol",
                "-a",
                k.users["carol"],
                "-vv",
                "--timing=1",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        wall.append((time.perf_counter() - start) * 1000)
        match = pattern.search(result.stdout)
        if result.returncode != 0 or match is None:
            raise RuntimeError(f"sipsak failed: {result.stdout[-500:]} {result.stderr[-500:]}")
        reported.append(float(match.group(1)))
        rtt = rtt_pattern.search(result.stdout)
        if rtt is not None:
            biggest.append(float(rtt.group(1)))
    return reported, biggest, wall


def main() -> None:
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    if shutil.which("kamailio") is None and not Path("/usr/sbin/kamailio").exists():
        print("kamailio not installed: nothing to measure")
        return
    with tempfile.TemporaryDirectory() as tmp:
        k = Kamailio(workdir=Path(tmp), users=DEFAULT_USERS, nonce_expire=300)
        k.start()
        try:
            asyncio.run(bench_pi_ata(k, 5))  # warm-up (imports, first connection)
            ours, ours_unreg = asyncio.run(bench_pi_ata(k, iterations))
            theirs, theirs_rtt, theirs_wall = bench_sipsak(k, max(10, iterations // 3))
        finally:
            k.stop()
    print("REGISTER with digest auth (401 + 200) against Kamailio on 127.0.0.1, UDP")
    print(summary("pi-ata register (2 round trips)", ours))
    print(summary("pi-ata un-register (1 round trip)", ours_unreg))
    if theirs:
        print(summary("sipsak register (self-reported)", theirs))
        if theirs_rtt:
            print(summary("sipsak slowest single round trip", theirs_rtt))
        print(summary("sipsak process wall time", theirs_wall))
        ratio = statistics.median(ours) / statistics.median(theirs)
        print(f"ratio pi-ata / sipsak, whole registration (median): {ratio:.2f}  (<1: faster)")
        if theirs_rtt:
            per_rtt = statistics.median(ours_unreg) / statistics.median(theirs_rtt)
            print(
                f"ratio pi-ata un-register / sipsak slowest round trip (median): {per_rtt:.2f}"
                "  (per-round-trip cost: Python stack vs C)"
            )
    else:
        print("sipsak not installed: no reference")


if __name__ == "__main__":
    main()
