"""Helpers shared by the media benchmarks: the probe process, pcap capture, statistics,
process accounting and a baresip instance configured for benchmarks."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def uptime() -> str:
    try:
        load = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        return "load: unknown"
    return f"load average {' '.join(load)}, {os.cpu_count()} CPUs"


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def machine_ticks() -> tuple[int, int, int]:
    """(busy, steal, total) jiffies of all CPUs from /proc/stat."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]
        steal = fields[7] if len(fields) > 7 else 0
        total = sum(fields[:8])
        return total - idle - steal, steal, total
    return 0, 0, 0


def machine_load(before: tuple[int, int, int], after: tuple[int, int, int]) -> str:
    """Whole-machine busy and steal share between two :func:`machine_ticks` readings."""
    total = after[2] - before[2]
    if total <= 0:
        return "machine load unknown"
    busy = 100.0 * (after[0] - before[0]) / total
    steal = 100.0 * (after[1] - before[1]) / total
    return f"all CPUs {busy:.0f} % busy, {steal:.1f} % stolen"


# --- the probe process ---------------------------------------------------------------------


class Probe:
    """``tests.bench_support.probe`` in its own process (see its docstring)."""

    def __init__(self, mode: str, seconds: float, warmup_s: float = 0.5) -> None:
        fd, name = tempfile.mkstemp(suffix=".json", prefix="probe-")
        os.close(fd)
        self.out = Path(name)
        self.seconds = seconds
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.bench_support.probe",
                mode,
                str(seconds),
                name,
                str(warmup_s),
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        words = self.proc.stdout.readline().split()
        if len(words) != 3 or words[0] != "ready":
            self.proc.kill()
            raise RuntimeError("the probe did not start")
        self.rtp_port = int(words[1])
        self.sip_port = int(words[2])

    def target(self, host: str, port: int, anchor_ns: int | None = None) -> None:
        assert self.proc.stdin is not None
        anchor = "" if anchor_ns is None else f" {anchor_ns}"
        self.proc.stdin.write(f"target {host} {port}{anchor}\n")
        self.proc.stdin.flush()

    def result(self, timeout: float | None = None) -> dict[str, Any]:
        try:
            self.proc.wait(timeout=timeout or self.seconds + 40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return {"error": "probe timed out"}
        try:
            data: dict[str, Any] = json.loads(self.out.read_text() or "{}")
        except ValueError:
            data = {"error": "probe wrote no result"}
        self.out.unlink(missing_ok=True)
        return data


# --- statistics --------------------------------------------------------------------------


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    a = np.asarray(values, dtype=np.float64)
    return {
        "n": float(a.size),
        "p50": float(np.percentile(a, 50)),
        "p95": float(np.percentile(a, 95)),
        "min": float(a.min()),
        "max": float(a.max()),
    }


def pacing_stats(rows: list[tuple[int, int, int]]) -> dict[str, float]:
    """rows: (arrival ns, seq, RTP timestamp) of one stream, in arrival order."""
    if len(rows) < 20:
        return {"packets": float(len(rows))}
    rows = rows[5:]  # start-up
    t = np.array([r[0] for r in rows], dtype=np.float64) / 1e9
    ts = np.unwrap(np.array([r[2] for r in rows], dtype=np.float64), period=2**32)
    dev = np.abs(np.diff(t) * 1000.0 - np.diff(ts) / 8.0)  # interval vs the timestamp step
    transit = t - ts / 8000.0
    j = 0.0
    for d in np.abs(np.diff(transit)):
        j += (d - j) / 16.0
    elapsed = t[-1] - t[0]
    media = (ts[-1] - ts[0]) / 8000.0
    # Drift: slope of transit against time (least squares), so one late packet at either end
    # does not count as drift.
    slope = float(np.polyfit(t - t[0], transit, 1)[0]) if len(t) > 2 else math.nan
    return {
        "packets": float(len(rows)),
        "seconds": elapsed,
        "dev_p50_ms": float(np.percentile(dev, 50)),
        "dev_p99_ms": float(np.percentile(dev, 99)),
        "dev_max_ms": float(dev.max()),
        "jitter_J_ms": j * 1000.0,
        "drift_ms": (elapsed - media) * 1000.0,
        "drift_ppm": slope * 1e6,
    }


# --- pcap (tcpdump) ------------------------------------------------------------------------


class PcapCapture:
    """tcpdump on ``lo`` writing nanosecond pcap; :meth:`stop` parses the RTP packets."""

    def __init__(self) -> None:
        self.available = shutil.which("tcpdump") is not None
        self.path = Path(tempfile.mkdtemp(prefix="bench-pcap-")) / "lo.pcap"
        self.proc: subprocess.Popen[bytes] | None = None
        self.reason = "" if self.available else "tcpdump not installed"

    def start(self) -> bool:
        if not self.available:
            return False
        self.proc = subprocess.Popen(
            [
                "tcpdump", "-i", "lo", "-n", "-s", "64", "--immediate-mode",
                "--time-stamp-precision=nano", "-w", str(self.path), "udp",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                self.reason = f"tcpdump failed: {err.strip()[-200:]}"
                self.available = False
                return False
            if self.path.exists() and self.path.stat().st_size >= 24:
                time.sleep(0.2)  # let it attach the filter; benchmark choreography
                return True
            time.sleep(0.05)
        return True

    def stop(self) -> list[tuple[int, int, int, int, int, int]]:
        """(ns, src port, dst port, ssrc, seq, ts) of every PCMU RTP packet captured."""
        if self.proc is None:
            return []
        time.sleep(0.3)
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        rows = parse_pcap(self.path.read_bytes()) if self.path.exists() else []
        shutil.rmtree(self.path.parent, ignore_errors=True)
        return rows


def parse_pcap(data: bytes) -> list[tuple[int, int, int, int, int, int]]:
    if len(data) < 24:
        return []
    magic = struct.unpack_from("<I", data)[0]
    endian = "<" if magic in (0xA1B23C4D, 0xA1B2C3D4) else ">"
    nano = struct.unpack_from(endian + "I", data)[0] == 0xA1B23C4D
    linktype = struct.unpack_from(endian + "I", data, 20)[0]
    link_len = {1: 14, 113: 16, 276: 20}.get(linktype, 14)  # Ethernet (lo), SLL, SLL2
    rows = []
    pos = 24
    while pos + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack_from(endian + "IIII", data, pos)
        pkt = data[pos + 16 : pos + 16 + incl]
        pos += 16 + incl
        ns = sec * 1_000_000_000 + (frac if nano else frac * 1000)
        ip = pkt[link_len:]
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        ihl = (ip[0] & 0x0F) * 4
        udp = ip[ihl:]
        if len(udp) < 8 + 12:
            continue
        sport, dport, length = struct.unpack_from("!HHH", udp)
        rtp = udp[8:]
        if length != 8 + 12 + 160 or rtp[0] >> 6 != 2 or rtp[1] & 0x7F != 0:
            continue
        _, _, seq, ts, ssrc = struct.unpack_from("!BBHII", rtp)
        rows.append((ns, sport, dport, ssrc, seq, ts))
    return rows


def streams(rows: list[tuple[int, int, int, int, int, int]]) -> dict[tuple[int, int], list[Any]]:
    """Group pcap rows by (source port, SSRC) -> [(ns, seq, ts)]."""
    out: dict[tuple[int, int], list[Any]] = {}
    for ns, sport, _dport, ssrc, seq, ts in rows:
        out.setdefault((sport, ssrc), []).append((ns, seq, ts))
    return out


# --- processes -----------------------------------------------------------------------------


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return math.nan


def proc_memory(pid: int) -> dict[str, float]:
    """PSS and USS (private pages) in MiB from ``/proc/PID/smaps_rollup``."""
    values: dict[str, float] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                values[parts[0][:-1]] = int(parts[1]) / 1024.0
    return {
        "pss": values.get("Pss", math.nan),
        "uss": values.get("Private_Clean", 0.0) + values.get("Private_Dirty", 0.0)
        if "Private_Dirty" in values
        else math.nan,
    }


# --- baresip -------------------------------------------------------------------------------


@dataclass
class BaresipSetup:
    """How to run baresip for a benchmark (config lines replacing the fixture's)."""

    source: str  # "aufile,/path.wav" or "aubridge,loop"
    player: str  # "aufile,/dev/null" or "aubridge,loop"
    jitter: str = "jitter_buffer_delay 1-10"  # the fixture's (our "minimum")
    extra: tuple[str, ...] = ()


def baresip_available() -> str:
    """'' when baresip can run here, else the reason."""
    if shutil.which("baresip") is None:
        return "baresip: not installed"
    try:
        import tests.peers.baresip  # noqa: F401
    except ImportError as exc:
        return f"baresip: fixture unavailable ({exc})"
    return ""


def start_baresip(workdir: Path, setup: BaresipSetup, wav: Path) -> Any:
    """A started :class:`tests.peers.baresip.Baresip` with ``setup`` applied to its config."""
    from tests.peers.baresip import Baresip

    class BenchBaresip(Baresip):
        def _write_config(self) -> None:
            super()._write_config()
            path = self.workdir / "config"
            lines = []
            for line in path.read_text().splitlines():
                key = line.split(" ", 1)[0]
                if key == "audio_source":
                    line = f"audio_source {setup.source}"
                elif key in ("audio_player", "audio_alert"):
                    line = f"{key} {setup.player}"
                elif key.startswith("jitter_buffer"):
                    continue
                lines.append(line)
            lines.append(setup.jitter)
            lines.extend(setup.extra)
            if setup.source.startswith("aubridge") and "module aubridge.so" not in lines:
                lines.insert(lines.index("module aufile.so"), "module aubridge.so")
            path.write_text("\n".join(lines) + "\n")

    ua = BenchBaresip(workdir=workdir, source_wav=wav, account="<sip:bench@127.0.0.1>;regint=0")
    ua.start()
    return ua


async def talking_call(daemon: Any, talk_s: float) -> bool:
    """On a running simulated daemon: phone 1 dials 1002 in DTMF, phone 2 answers, and both
    keep saying a tone (700 / 1250 Hz, −12 dBm0) for ``talk_s``. Returns whether phone 2 rang;
    returns a second after both tones started."""
    import asyncio

    assert daemon.sim is not None
    phone1, phone2 = daemon.sim.phones[0], daemon.sim.phones[1]
    phone1.off_hook()
    await asyncio.sleep(0.6)
    await phone1.dtmf_dial("1002")
    rang = bool(await phone2.wait_for(lambda: phone2.ringing, 8.0))
    phone2.off_hook()
    await asyncio.sleep(1.0)
    phone1.play_tone((700.0,), talk_s, -12.0)
    phone2.play_tone((1250.0,), talk_s, -12.0)
    await asyncio.sleep(1.0)
    return rang
