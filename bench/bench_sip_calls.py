"""CPU per call of pi-ata's SIP user agent, answering calls from sipp over real UDP.

sipp's built-in ``uac`` scenario places N calls (INVITE, 100/180/200, ACK, BYE/200) at a fixed
rate. First pi-ata's :class:`~ata.sip.ua.UserAgent` answers them (driven by a small select loop
in this process; CPU measured with ``time.process_time``), then, as the reference peer, sipp's
``uas`` scenario answers the same load (CPU from ``os.wait4`` rusage). Printed: completed calls,
CPU ms per call for each, and the ratio pi-ata / sipp-uas (sipp is C++; lower is better).

Run: ``python bench/bench_sip_calls.py [calls] [rate]`` (defaults 300 calls at 50 calls/s).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time

from ata.sip.call import CallEnded, CallIncoming
from ata.sip.sdp import AudioConfig
from ata.sip.ua import UaConfig, UserAgent

LOOPBACK = "127.0.0.1"


def _port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((LOOPBACK, 0))
        port: int = s.getsockname()[1]
        return port


def _uac(sipp: str, target_port: int, calls: int, rate: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sipp, "-sn", "uac", f"{LOOPBACK}:{target_port}", "-s", "service", "-i", LOOPBACK,
         "-p", str(_port()), "-m", str(calls), "-r", str(rate), "-d", "10", "-nostdin",
         "-timeout", "120"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def run_pi_ata(sipp: str, calls: int, rate: int) -> tuple[int, float, int]:
    port = _port()
    ua = UserAgent(
        UaConfig(
            user="service",
            domain=LOOPBACK,
            local_host=LOOPBACK,
            local_port=port,
            max_calls=10_000,
            audio=AudioConfig(address=LOOPBACK, port=40000),
        )
    )
    ended = 0
    t0 = time.monotonic()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, port))
        sock.settimeout(0.01)
        proc = _uac(sipp, port, calls, rate)
        cpu0 = time.process_time()
        while proc.poll() is None and time.monotonic() - t0 < 120:
            with contextlib.suppress(TimeoutError):
                data, addr = sock.recvfrom(65535)
                ua.receive(data, addr, time.monotonic() - t0)
            now = time.monotonic() - t0
            timer = ua.get_timer()
            if timer is not None and timer <= now:
                ua.handle_timer(now)
            while (ev := ua.next_event()) is not None:
                if isinstance(ev, CallIncoming):
                    ua.answer(ev.handle, now)
                elif isinstance(ev, CallEnded):
                    ended += 1
            for out in ua.datagrams_to_send():
                sock.sendto(out.data, out.addr)
        cpu = time.process_time() - cpu0
    return ended, cpu, proc.returncode or 0


def run_sipp_uas(sipp: str, calls: int, rate: int) -> tuple[float, int]:
    port = _port()
    uas = subprocess.Popen(
        [sipp, "-sn", "uas", "-i", LOOPBACK, "-p", str(port), "-m", str(calls), "-nostdin",
         "-timeout", "120"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(0.3)  # benchmark setup: let the reference bind its port
    uac = _uac(sipp, port, calls, rate)
    uac.wait(timeout=150)
    _, status, usage = os.wait4(uas.pid, 0)
    return usage.ru_utime + usage.ru_stime, os.waitstatus_to_exitcode(status)


def main() -> None:
    sipp = shutil.which("sipp")
    if sipp is None:
        print("sipp not installed: nothing to measure")
        return
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    rate = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    ended, cpu, rc = run_pi_ata(sipp, calls, rate)
    ref_cpu, ref_rc = run_sipp_uas(sipp, calls, rate)
    ours = 1000 * cpu / max(ended, 1)
    theirs = 1000 * ref_cpu / calls
    print(f"{calls} calls at {rate}/s from sipp uac (python {sys.version.split()[0]})")
    print(f"pi-ata UserAgent : {ended} calls completed, {ours:.2f} ms CPU/call (sipp rc {rc})")
    print(f"sipp uas (ref)   : {calls} calls, {theirs:.2f} ms CPU/call (rc {ref_rc})")
    print(f"ratio pi-ata / sipp-uas CPU per call: {ours / max(theirs, 1e-6):.1f}x")


if __name__ == "__main__":
    main()
