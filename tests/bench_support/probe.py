"""An independent RTP probe process: sends marked RTP on a software clock, times what returns.

Run as ``python -m tests.bench_support.probe MODE SECONDS OUT.json [WARMUP_S]`` from the
repository root.
It binds an RTP socket (kernel receive timestamps, ``SO_TIMESTAMPNS``) and a SIP socket, prints
``ready RTP_PORT SIP_PORT`` and then learns where to send:

* a line ``target HOST PORT [ANCHOR_NS]`` on stdin (pi-ata: the bench tells it the RtpSession's
  port; with ``ANCHOR_NS``, a ``time.monotonic_ns()`` value, packets leave at ``ANCHOR_NS +
  k·20 ms``, which fixes their phase against the simulated codec's ticks), or
* a SIP INVITE on its SIP socket (baresip dials it): the probe answers 200 OK with an SDP whose
  ``m=audio`` is its RTP port and sends to the offer's address.

Modes:

``roundtrip``: from the target's discovery on, one PCMU packet every 20 ms at absolute deadlines
``start + k·20 ms`` (a ``select`` timeout, never a relative sleep). Silence, except every
``MARK_EVERY``-th frame, which carries a unique pseudo-random burst (one frame, ±8000). Every
returned packet is recorded with its kernel arrival time (bursts start after ``WARMUP_S``
seconds). At the end the returned audio (in arrival order) is cross-correlated with each
burst; the latency of a burst is the arrival of the packet holding its last sample minus the
send time of the packet that carried it.

``sink``: answer every INVITE (several calls share the RTP port; streams are told apart by
SSRC), record every RTP packet's kernel arrival time, and, when ``reflect`` is given, send each
packet back to its source under another SSRC so the sender's receive path works too.
"""

from __future__ import annotations

import json
import re
import select
import socket
import struct
import sys
import time
from pathlib import Path

import numpy as np

from ata.media.g711 import ulaw_decode, ulaw_encode

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
FRAME = 160
PERIOD_NS = 20_000_000
MARK_EVERY = 15  # frames between bursts (300 ms): longer than any round trip measured
WARMUP_FRAMES = 25  # no bursts in the first 0.5 s


def burst(index: int) -> np.ndarray:
    rng = np.random.default_rng(1000 + index)
    return (rng.choice([-1, 1], FRAME) * 8000).astype(np.int16)


def _rtp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.bind(("127.0.0.1", 0))
    return sock


def _recv(sock: socket.socket) -> tuple[bytes, tuple[str, int], int]:
    data, anc, _flags, addr = sock.recvmsg(2048, socket.CMSG_SPACE(16))
    ns = time.time_ns()
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            sec, nsec = struct.unpack("qq", payload[:16])
            ns = sec * 1_000_000_000 + nsec
    return data, (str(addr[0]), int(addr[1])), ns


class SipStub:
    """Answers INVITE (SDP: our RTP port), BYE and OPTIONS with 200 OK; remembers offers."""

    def __init__(self, sock: socket.socket, rtp_port: int) -> None:
        self.sock = sock
        self.rtp_port = rtp_port
        self.offers: list[tuple[str, int]] = []
        self.calls: set[str] = set()

    def handle(self) -> None:
        data, addr = self.sock.recvfrom(65535)
        text = data.decode("utf-8", "replace")
        head, _, body = text.partition("\r\n\r\n")
        lines = head.split("\r\n")
        method = lines[0].split(" ", 1)[0]
        if method not in ("INVITE", "BYE", "OPTIONS"):
            return
        short = {"v": "via", "f": "from", "t": "to", "i": "call-id"}
        keep = []
        call_id = ""
        for line in lines[1:]:
            name = line.split(":", 1)[0].strip().lower()
            name = short.get(name, name)
            if name in ("via", "from", "to", "call-id", "cseq"):
                if name == "to" and "tag=" not in line:
                    line += ";tag=probe1"
                if name == "call-id":
                    call_id = line.split(":", 1)[1].strip()
                keep.append(line)
        answer = ""
        if method == "INVITE":
            m = re.search(r"^m=audio (\d+)", body, re.M)
            c = re.search(r"^c=IN IP4 (\S+)", body, re.M)
            if m and c and call_id not in self.calls:
                self.calls.add(call_id)
                self.offers.append((c.group(1), int(m.group(1))))
            answer = (
                "v=0\r\no=probe 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                f"m=audio {self.rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\n"
                "a=sendrecv\r\n"
            )
        port = self.sock.getsockname()[1]
        out = ["SIP/2.0 200 OK", *keep, f"Contact: <sip:probe@127.0.0.1:{port}>"]
        if answer:
            out.append("Content-Type: application/sdp")
        out.append(f"Content-Length: {len(answer)}")
        self.sock.sendto(("\r\n".join(out) + "\r\n\r\n" + answer).encode(), addr)


def roundtrip(seconds: float, out: Path, warmup_s: float = 0.5) -> None:
    rtp = _rtp_socket()
    sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sip.bind(("127.0.0.1", 0))
    stub = SipStub(sip, rtp.getsockname()[1])
    print(f"ready {rtp.getsockname()[1]} {sip.getsockname()[1]}", flush=True)
    target: tuple[str, int] | None = None
    anchor_ns: int | None = None  # send at anchor + k·20 ms (a chosen phase), else any phase
    stdin = sys.stdin
    give_up = time.monotonic() + 30.0
    while target is None and time.monotonic() < give_up:
        readable, _, _ = select.select([stdin, sip], [], [], 0.5)
        if stdin in readable:
            words = stdin.readline().split()
            if len(words) in (3, 4) and words[0] == "target":
                target = (words[1], int(words[2]))
                anchor_ns = int(words[3]) if len(words) == 4 else None
        if sip in readable:
            stub.handle()
            if stub.offers:
                target = stub.offers[0]
    if target is None:
        out.write_text(json.dumps({"error": "no target (no INVITE, no stdin)"}))
        return
    frames = int(seconds / 0.02)
    silence = ulaw_encode(np.zeros(FRAME, np.int16)).tobytes()
    first = max(WARMUP_FRAMES, int(warmup_s / 0.02))
    marks = {k: burst(k) for k in range(first, frames, MARK_EVERY)}
    payloads = {k: ulaw_encode(b).tobytes() for k, b in marks.items()}
    sent_ns: dict[int, int] = {}
    arrivals: list[int] = []
    audio: list[bytes] = []
    start = time.monotonic_ns() + PERIOD_NS
    if anchor_ns is not None:
        start += (anchor_ns - start) % PERIOD_NS
    k = 0
    end = start + (frames + 25) * PERIOD_NS  # listen 0.5 s after the last send
    ssrc = 0x50B0BE01
    while True:
        now = time.monotonic_ns()
        if now >= end:
            break
        deadline = start + k * PERIOD_NS if k < frames else end
        if now >= deadline and k < frames:
            packet = struct.pack("!BBHII", 0x80, 0, k & 0xFFFF, (k * FRAME) & 0xFFFFFFFF, ssrc)
            t_send = time.time_ns()
            rtp.sendto(packet + payloads.get(k, silence), target)
            sent_ns[k] = t_send
            k += 1
            continue
        readable, _, _ = select.select([rtp, sip], [], [], max(0.0, (deadline - now) / 1e9))
        if rtp in readable:
            data, _addr, ns = _recv(rtp)
            if len(data) == 12 + FRAME and data[0] >> 6 == 2 and data[1] & 0x7F == 0:
                arrivals.append(ns)
                audio.append(data[12:])
        if sip in readable:
            stub.handle()
    result = _match(marks, sent_ns, arrivals, audio)
    result["sent"] = k
    result["received"] = len(arrivals)
    out.write_text(json.dumps(result))


def _match(
    marks: dict[int, np.ndarray], sent_ns: dict[int, int], arrivals: list[int], audio: list[bytes]
) -> dict[str, object]:
    if not audio:
        return {"latencies_ms": [], "unmatched": len(marks)}
    stream = ulaw_decode(np.frombuffer(b"".join(audio), np.uint8)).astype(np.float64)
    n = len(stream)
    size = 1 << (n + FRAME).bit_length()
    spectrum = np.fft.rfft(stream, size)
    energy = np.sqrt(np.convolve(stream * stream, np.ones(FRAME), "full")[FRAME - 1 :])
    latencies: list[float] = []
    unmatched = 0
    for k, mark in marks.items():
        ref = mark.astype(np.float64)
        corr = np.fft.irfft(spectrum * np.conj(np.fft.rfft(ref, size)), size)[:n]
        norm = corr / (np.linalg.norm(ref) * np.maximum(energy[:n], 1e-9))
        peak = int(np.argmax(norm))
        if norm[peak] < 0.6:
            unmatched += 1
            continue
        last_packet = (peak + FRAME - 1) // FRAME
        if last_packet >= len(arrivals):
            unmatched += 1
            continue
        latencies.append((arrivals[last_packet] - sent_ns[k]) / 1e6)
    return {"latencies_ms": latencies, "unmatched": unmatched}


def sink(seconds: float, out: Path, reflect: bool) -> None:
    rtp = _rtp_socket()
    sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sip.bind(("127.0.0.1", 0))
    stub = SipStub(sip, rtp.getsockname()[1])
    print(f"ready {rtp.getsockname()[1]} {sip.getsockname()[1]}", flush=True)
    rows: list[tuple[int, int, int, int, int, int]] = []
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        readable, _, _ = select.select([rtp, sip], [], [], min(left, 0.5))
        if sip in readable:
            stub.handle()
        if rtp in readable:
            data, addr, ns = _recv(rtp)
            if len(data) < 12 or data[0] >> 6 != 2:
                continue
            _, pt, seq, ts, ssrc = struct.unpack_from("!BBHII", data)
            rows.append((ns, ssrc, seq, ts, pt & 0x7F, addr[1]))
            if reflect:
                rtp.sendto(data[:8] + struct.pack("!I", ssrc ^ 0x5A5A5A5A) + data[12:], addr)
    out.write_text(json.dumps({"rows": rows, "calls": len(stub.calls)}))


def main() -> None:
    mode, seconds, out = sys.argv[1], float(sys.argv[2]), Path(sys.argv[3])
    if mode == "roundtrip":
        roundtrip(seconds, out, float(sys.argv[4]) if len(sys.argv) > 4 else 0.5)
    else:
        sink(seconds, out, reflect=mode == "reflect")


if __name__ == "__main__":
    main()
