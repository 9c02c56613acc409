"""Resident memory of the daemon with two ports in a call: where it goes, per configuration.

Run: ``python bench/bench_memory.py [--hold 5] [--no-baresip]``. Prints numbers and ratios,
never pass/fail (the media issue's target: ≤ 60 MB with two calls).

The real daemon (``Daemon(demo_config(), sip_calls, ...)``: simulated board, embedded
registrar, SIP call manager) runs in a **child process**, once per configuration:

- ``no API, no admin``: ``DaemonOptions(api_port=None, admin_listen="")``;
- ``API only``: the JSON API on 127.0.0.1 and no web admin (what ``bench_call_load`` runs);
- ``as shipped``: the JSON API on 127.0.0.1 and the web admin on (``ata run``'s defaults);
- ``as shipped, used``: the same, and during the call one request to each (``/api/status``,
  ``/login``): both load their aiohttp application at their first connection. The event
  loop's worst lateness (a 2 ms ticker) while that happens is printed against the same
  window without requests, and the time to the first response.

Each child registers both ports (idle sample), then phone 1 dials 1002 with DTMF, phone 2
answers and both talk (a tone each); after ``--hold`` seconds of talking the parent samples
again. Samples: ``VmRSS``, ``RssAnon``/``RssFile`` and threads from ``/proc/PID/status``,
PSS and USS from ``smaps_rollup``, and the largest resident mappings from ``smaps``.

The import breakdown runs in fresh interpreters: the ``VmRSS`` growth of each library on top
of the daemon's own modules, so each line is what that library costs when it is loaded.
baresip (``aufile`` source, one call to a reflecting probe) is measured the same way for
comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.bench_support.common import (  # noqa: E402
    BaresipSetup,
    Probe,
    baresip_available,
    proc_memory,
    start_baresip,
    talking_call,
)

MODES = {
    "off": "no API, no admin",
    "api": "API only (as bench_call_load)",
    "shipped": "as shipped: API + web admin",
    "used": "as shipped, API and admin used once",
}


# --- the daemon, in a child process ---------------------------------------------------------


def _free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _daemon_child(mode: str, talk_s: float) -> None:
    from ata.runtime.daemon import Daemon, DaemonOptions
    from ata.runtime.demo import demo_config
    from ata.runtime.sip_calls import sip_calls

    options = DaemonOptions(
        api_port=None if mode == "off" else 0,
        admin_listen=f"127.0.0.1:{_free_port(socket.SOCK_STREAM)}"
        if mode in ("shipped", "used")
        else "",
        registrar_port=_free_port(),
        registrar_host="127.0.0.1",
    )
    daemon = Daemon(demo_config(), sip_calls, options=options)
    await daemon.start()
    loop = asyncio.get_running_loop()
    info: dict[str, Any] = {"modules": len(sys.modules)}
    try:
        for _ in range(300):  # up to 15 s for both ports to register
            lines = daemon.status()["lines"]
            if lines and all(
                (x.get("registration") or {}).get("state") == "registered" for x in lines
            ):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)
        print("idle " + json.dumps(info), flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)  # the parent's "call"
        assert daemon.sim is not None
        phone1, phone2 = daemon.sim.phones[0], daemon.sim.phones[1]
        info["rang"] = await talking_call(daemon, talk_s)
        info["states"] = [p.status().state for p in daemon.ports]
        if mode == "used":
            info["quiet_late_ms"] = await _lateness(asyncio.sleep(1.0))
            started = time.monotonic()
            admin = int((options.admin_listen or ":0").rsplit(":", 1)[1])
            info["load_late_ms"] = await _lateness(_first_requests(daemon.api_port, admin))
            info["first_response_s"] = time.monotonic() - started
        info["modules"] = len(sys.modules)
        heavy = ("aiohttp", "dns", "cryptography", "numpy", "msgspec")
        info["loaded"] = sorted({m.split(".")[0] for m in sys.modules} & set(heavy))
        print("ready " + json.dumps(info), flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)  # the parent's "stop"
        phone2.on_hook()
        await asyncio.sleep(0.3)
        phone1.on_hook()
        await asyncio.sleep(0.3)
    finally:
        await daemon.stop()


async def _get(port: int, path: str) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
    status = (await reader.readline()).decode().strip()
    await reader.read()
    writer.close()
    return status


async def _first_requests(api_port: int, admin_port: int) -> None:
    await asyncio.gather(_get(api_port, "/api/status"), _get(admin_port, "/login"))


async def _lateness(work: Any) -> float:
    """The event loop's worst lateness (ms) on a 2 ms ticker while ``work`` runs."""
    loop = asyncio.get_running_loop()
    worst = 0.0

    async def tick() -> None:
        nonlocal worst
        while True:
            due = loop.time() + 0.002
            await asyncio.sleep(0.002)
            worst = max(worst, loop.time() - due)

    ticker = loop.create_task(tick())
    try:
        await work
    finally:
        ticker.cancel()
    return round(worst * 1000.0, 2)


# --- sampling -------------------------------------------------------------------------------


def sample(pid: int) -> dict[str, Any]:
    status: dict[str, str] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        status[key] = value.strip()

    def mib(key: str) -> float:
        return int(status.get(key, "0 kB").split()[0]) / 1024.0

    out: dict[str, Any] = {
        "rss": mib("VmRSS"),
        "anon": mib("RssAnon"),
        "file": mib("RssFile"),
        "threads": int(status.get("Threads", "0")),
    }
    out.update(proc_memory(pid))
    out["mappings"] = mappings(pid)
    return out


def mappings(pid: int) -> list[tuple[str, float]]:
    """Resident MiB per mapping group: [heap], anonymous, and files grouped by package."""
    groups: collections.Counter[str] = collections.Counter()
    name = ""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                parts = line.split()
                name = parts[5] if len(parts) > 5 else "anonymous (Python objects, arrays)"
                site = re.search(r"site-packages/([^/]+)", name)
                if site:
                    name = site.group(1).split(".")[0] + " (shared objects)"
                elif "/lib-dynload/" in name:
                    name = "stdlib extension modules"
                elif name.startswith("/"):
                    name = name.rsplit("/", 1)[1]
            elif line.startswith("Rss:"):
                groups[name] += int(line.split()[1]) / 1024.0
    return groups.most_common(8)


class DaemonRun:
    def __init__(self, mode: str, talk_s: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--child", mode, str(talk_s)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # the admin announces its first-start password there
            text=True,
            cwd=ROOT,
        )

    def expect(self, word: str, timeout: float = 40.0) -> dict[str, Any] | None:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                return None
            if line.startswith(word + " "):
                data: dict[str, Any] = json.loads(line[len(word) + 1 :])
                return data
        return None

    def send(self, word: str) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.write(word + "\n")
            self.proc.stdin.flush()

    def stop(self) -> None:
        self.send("stop")
        try:
            self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()


def measure_daemon(mode: str, hold_s: float) -> dict[str, Any]:
    run = DaemonRun(mode, hold_s + 10.0)
    result: dict[str, Any] = {"mode": mode}
    try:
        if run.expect("idle") is None:
            result["error"] = "the daemon did not come up"
            return result
        result["idle"] = sample(run.proc.pid)
        run.send("call")
        ready = run.expect("ready")
        if ready is None:
            result["error"] = "the call did not come up"
            return result
        result["info"] = ready
        time.sleep(hold_s)  # talking; benchmark choreography
        result["call"] = sample(run.proc.pid)
    finally:
        run.stop()
    return result


# --- imports, in fresh interpreters ---------------------------------------------------------

CORE = ("asyncio", "numpy", "msgspec", "ata.runtime.daemon", "ata.runtime.sip_calls")
EXTRAS = {
    "aiohttp (+ JSON API, web admin modules)": (
        "aiohttp.web",
        "ata.runtime.api",
        "provisioning.web.server",
    ),
    "dnspython (host-name proxies)": ("dns.asyncresolver",),
    "cryptography (encrypted profiles)": ("cryptography.hazmat.primitives.ciphers",),
    "provisioning driver (profile rules)": ("provisioning.driver",),
}

_IMPORT_SCRIPT = """
import importlib, json, sys
def rss():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024.0
steps = [('python', rss())]
for group in json.loads(sys.argv[1]):
    for name in group[1]:
        importlib.import_module(name)
    steps.append((group[0], rss()))
print(json.dumps(steps))
"""


def import_steps(groups: list[tuple[str, tuple[str, ...]]]) -> list[tuple[str, float]]:
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_SCRIPT, json.dumps(groups)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return []
    steps: list[tuple[str, float]] = [tuple(x) for x in json.loads(done.stdout)]  # type: ignore[misc]
    return steps


def import_breakdown() -> None:
    print("Import cost (VmRSS growth in a fresh interpreter, MiB)")
    core = import_steps([(name, (name,)) for name in CORE])
    if not core:
        print("  (the import probe failed)")
        return
    previous = 0.0
    for name, rss in core:
        label = "python (interpreter, site)" if name == "python" else name
        delta = rss - previous if previous else rss
        print(f"  {label:42s} +{delta:5.1f}   total {rss:5.1f}")
        previous = rss
    base = core[-1][1]
    print("  on top of those, each in its own interpreter:")
    for label, modules in EXTRAS.items():
        steps = import_steps([("core", CORE), (label, modules)])
        if len(steps) == 3:
            print(f"    {label:40s} +{steps[2][1] - steps[1][1]:5.1f}")
    print(f"  (the daemon's modules before any optional library: {base:.1f} MiB)\n")


# --- baresip --------------------------------------------------------------------------------


def measure_baresip(hold_s: float) -> dict[str, Any]:
    reason = baresip_available()
    if reason:
        return {"error": reason}
    import numpy as np

    from ata.dsp.wavio import write_wav
    from ata.runtime.media_clock import tone_frames

    work = Path(tempfile.mkdtemp(prefix="bench-memory-baresip-"))
    wav = work / "tone.wav"
    gen = tone_frames(1000.0, 6000.0)
    write_wav(wav, np.concatenate([gen(k) for k in range(int((hold_s + 10) / 0.02))]))
    probe = Probe("reflect", hold_s + 8.0)
    result: dict[str, Any] = {}
    ua = None
    try:
        ua = start_baresip(
            work / "ua", BaresipSetup(source=f"aufile,{wav}", player="aufile,/dev/null"), wav
        )
        ua.command("dial", f"sip:probe@127.0.0.1:{probe.sip_port}")
        time.sleep(1.0 + hold_s)  # set-up, then talking; benchmark choreography
        result["call"] = sample(ua.process.pid)
        with contextlib.suppress(Exception):
            ua.command("hangup")
    except Exception as exc:  # a peer failing must not stop the benchmark
        result["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        if ua is not None:
            ua.stop()
        probe.result()
    return result


# --- report ---------------------------------------------------------------------------------


def _row(label: str, s: dict[str, Any]) -> None:
    print(
        f"  {label:48s} RSS {s['rss']:5.1f}  PSS {s['pss']:5.1f}  USS {s['uss']:5.1f}  "
        f"(anon {s['anon']:4.1f}, file {s['file']:4.1f}; {s['threads']} threads)"
    )


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        asyncio.run(_daemon_child(sys.argv[2], float(sys.argv[3])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--hold", type=float, default=5.0, help="seconds of talking before sampling"
    )
    parser.add_argument("--no-baresip", action="store_true")
    args = parser.parse_args()
    print("Daemon resident memory with two ports in a call (MiB = 2^20 bytes; target ≤ 60 MB)\n")
    import_breakdown()

    results = {mode: measure_daemon(mode, args.hold) for mode in MODES}
    print("The daemon, idle (both ports registered) and with two ports in a call")
    for mode, label in MODES.items():
        r = results[mode]
        if "error" in r:
            print(f"  {label}: {r['error']}")
            continue
        _row(f"{label}, idle", r["idle"])
        _row(f"{label}, two calls", r["call"])
        info = r["info"]
        print(
            f"    call states {info.get('states')}; {info.get('modules')} modules; "
            f"loaded: {', '.join(info.get('loaded', []))}"
        )
        if "load_late_ms" in info:
            print(
                f"    first requests answered after {info['first_response_s']:.2f} s (aiohttp "
                f"imported in a worker thread); event loop worst lateness meanwhile "
                f"{info['load_late_ms']:.1f} ms, in a quiet second {info['quiet_late_ms']:.1f} ms"
            )
    off, shipped = results["off"], results["shipped"]
    if "call" in off and "call" in shipped:
        print(
            f"  as shipped / no API: RSS {shipped['call']['rss'] / off['call']['rss']:.2f}; "
            f"difference {shipped['call']['rss'] - off['call']['rss']:.1f} MiB"
        )
    for mode, r in results.items():
        if "call" in r:
            print(f"\nLargest resident mappings, {MODES[mode]}, two calls (MiB)")
            for name, mib in r["call"]["mappings"]:
                print(f"  {mib:6.1f}  {name}")

    print()
    bare = {"error": "skipped (--no-baresip)"} if args.no_baresip else measure_baresip(args.hold)
    if "call" in bare:
        _row("baresip 1.0, one call (aufile)", bare["call"])
        for mode, r in results.items():
            if "call" in r:
                ratio = r["call"]["rss"] / bare["call"]["rss"]
                print(f"  ratio pi-ata ({MODES[mode]}, two calls) / baresip RSS: {ratio:.1f}")
    else:
        print(f"  baresip: {bare.get('error')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
