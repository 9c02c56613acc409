"""Call setup latency of pi-ata's CallManager through a real Kamailio, vs baresip as reference.

Both callers dial the same auto-answering baresip (carol) through the same Kamailio (digest
challenge 407 on every INVITE), N times each:

* pi-ata: ``CallManager.place_call`` → ``CallAnswered`` delivered to the port (includes
  binding the RTP pair and the 407 round); also INVITE sent → 2xx received
  (``CallManager.setup_times``);
* reference: baresip (alice) ``dial`` over ctrl_tcp → its ``CALL_ESTABLISHED`` event (includes
  ctrl_tcp and the same 407 round).

Then incoming: a raw UDP INVITE straight to pi-ata (from the proxy's address) → 180 on the
wire, and → ``IncomingCall`` at the port (includes binding RTP).

Run: ``python bench/bench_call_setup.py [calls]`` (default 20). Needs kamailio and baresip.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ata.dsp.wavio import write_wav  # noqa: E402
from ata.line import port as lp  # noqa: E402
from tests.integration.calls_support import (  # noqa: E402
    PortStandIn,
    RawPeer,
    account,
    in_thread,
    invite,
    running_manager,
    sdp,
)
from tests.peers.baresip import Baresip  # noqa: E402
from tests.peers.fixtures import DEFAULT_USERS  # noqa: E402
from tests.peers.kamailio import Kamailio  # noqa: E402


def _ms(values: list[float]) -> str:
    v = sorted(values)
    p90 = v[min(len(v) - 1, int(0.9 * len(v)))]
    return (
        f"median {statistics.median(v) * 1e3:6.2f} ms  p90 {p90 * 1e3:6.2f}  max {v[-1] * 1e3:6.2f}"
    )


def _phone(workdir: Path, k: Kamailio, user: str, wav: Path, index: int) -> Baresip:
    phone = Baresip(
        workdir=workdir / user,
        source_wav=wav,
        account=(
            f"<sip:{user}@{k.host}:{k.port}>;auth_pass={k.users[user]};answermode=auto;"
            "audio_codecs=PCMU;ptime=20;regint=600"
        ),
        rtp_ports=(30000 + 1000 * index, 30999 + 1000 * index),
    )
    phone.start()
    phone.wait_registered()
    return phone


async def main(calls: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-calls-"))
    (work / "k").mkdir()
    k = Kamailio(workdir=work / "k", users=DEFAULT_USERS)
    k.start()
    t = np.arange(8000 * 300) / 8000.0
    wav = work / "tone.wav"
    write_wav(wav, np.rint(3000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16))
    carol = _phone(work, k, "carol", wav, 0)
    alice = _phone(work, k, "alice", wav, 1)
    try:
        reference: list[float] = []
        for _ in range(calls):
            t0 = time.perf_counter()
            alice.command("dial", f"sip:carol@{k.host}:{k.port}")
            alice.wait_event("CALL_ESTABLISHED", timeout=5)
            reference.append(time.perf_counter() - t0)
            alice.command("hangup")
            carol.wait_event("CALL_CLOSED", timeout=5)
            alice.events.clear()
            carol.events.clear()
        async with running_manager(k, [account(k, "bob")]) as manager:
            port = PortStandIn(manager, 0, 440.0)
            loop = asyncio.get_running_loop()
            ours: list[float] = []
            for i in range(calls):
                port.events.clear()
                t0 = loop.time()
                manager.place_call(0, f"bench-{i}", "carol")
                await port.wait(lp.CallAnswered)
                ours.append(loop.time() - t0)
                await in_thread(carol.wait_event, "CALL_ESTABLISHED", timeout=5)
                manager.hang_up(f"bench-{i}")
                await in_thread(carol.wait_event, "CALL_CLOSED", timeout=5)
                carol.events.clear()
            wire = list(manager.setup_times)
            ata = manager.endpoint.transport.local_address("udp")
            raw = RawPeer()
            ringing: list[float] = []
            announced: list[float] = []
            for _ in range(calls):
                port.events.clear()
                t0 = loop.time()
                raw.send(invite(raw, "bob", ata, sdp(40000)), ata)
                await raw.expect("SIP/2.0 180")
                ringing.append(loop.time() - t0)
                event = await port.wait(lp.IncomingCall)
                announced.append(loop.time() - t0)
                manager.reject(event.call_id, 486)
                await raw.expect("SIP/2.0 486")
            raw.close()
    finally:
        alice.stop()
        carol.stop()
        k.stop()
    print(f"calls per measurement: {calls} (loopback, Kamailio with 407 on every INVITE)")
    print(f"pi-ata   place_call -> CallAnswered      {_ms(ours)}")
    print(f"pi-ata   INVITE sent -> 2xx received     {_ms(wire)}")
    print(f"baresip  dial -> CALL_ESTABLISHED (ref)  {_ms(reference)}")
    ratio = statistics.median(ours) / statistics.median(reference)
    print(f"ratio pi-ata / baresip (median): {ratio:.2f}")
    print(f"pi-ata   incoming INVITE -> 180 on wire  {_ms(ringing)}")
    print(f"pi-ata   incoming INVITE -> IncomingCall {_ms(announced)}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20))
