"""Incoming call latency, pi-ata vs baresip, measured the same way in the same run.

A raw UDP caller in this script (not a SIP stack: nothing of its own is timed) sends the same
INVITE through the same Kamailio to two auto-answering user agents, N times each, and takes
the time from sending the INVITE to receiving 180 Ringing and 200 OK:

* pi-ata: a CallManager line (``bob``) whose port answers as soon as it hears IncomingCall
  (the phone lifting at once; the port driver's ring schedule is not in the path);
* baresip 1.0 (``carol``) with ``answermode=auto``.

Both sit behind the same Kamailio (record-routing, no auth for this caller's foreign domain).
After each 200 the caller ACKs and BYEs the far end directly (its Contact). Then the REGISTER
round trip of each UA, measured at a raw UDP registrar in this script: the time between our
401 challenge leaving and the authenticated REGISTER arriving (the client's own work), five
fresh registrations each.

Run: ``python bench/bench_sip_latency.py [calls]`` (default 20). Needs kamailio and baresip.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import socket
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
from ata.runtime.calls import CallPolicy  # noqa: E402
from ata.runtime.sip_endpoint import SipEndpoint, aor  # noqa: E402
from ata.runtime.sip_transport import TransportConfig  # noqa: E402
from ata.sip.registration import RegistrationConfig, RegState  # noqa: E402
from tests.integration.calls_support import account, running_manager  # noqa: E402
from tests.peers.baresip import Baresip  # noqa: E402
from tests.peers.fixtures import DEFAULT_USERS  # noqa: E402
from tests.peers.kamailio import Kamailio  # noqa: E402

LO = "127.0.0.1"
BENCH_PASSWORD = secrets.token_hex(6)  # the raw registrar accepts any answer to its challenge


def _hdr(message: str, name: str) -> str:
    found = re.search(rf"^{name}:[ \t]*(.*?)\r?$", message, re.MULTILINE | re.IGNORECASE)
    return found.group(1) if found else ""


class Caller:
    """Blocking raw UDP caller (runs in a thread, so the UAs' loop keeps serving)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LO, 0))
        self.sock.settimeout(5.0)
        self.port = self.sock.getsockname()[1]

    def call(self, user: str, proxy: tuple[str, int]) -> tuple[float, float]:
        call_id, tag = secrets.token_hex(8), secrets.token_hex(4)
        body = (
            f"v=0\r\no=- 1 1 IN IP4 {LO}\r\ns=-\r\nc=IN IP4 {LO}\r\nt=0 0\r\n"
            "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        )
        invite = (
            f"INVITE sip:{user}@{proxy[0]}:{proxy[1]} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {LO}:{self.port};branch=z9hG4bK{secrets.token_hex(6)};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:5550100@{LO}>;tag={tag}\r\n"
            f"To: <sip:{user}@{proxy[0]}:{proxy[1]}>\r\nCall-ID: {call_id}\r\n"
            f"CSeq: 1 INVITE\r\nContact: <sip:5550100@{LO}:{self.port}>\r\n"
            f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n{body}"
        )
        t0 = time.perf_counter()
        self.sock.sendto(invite.encode(), proxy)
        ringing = answered = 0.0
        ok = ""
        while not ok:
            text = self.sock.recv(65535).decode(errors="replace")
            if _hdr(text, "Call-ID") != call_id:
                continue
            if text.startswith("SIP/2.0 180") and not ringing:
                ringing = time.perf_counter() - t0
            elif text.startswith("SIP/2.0 200"):
                answered = time.perf_counter() - t0
                ok = text
        contact = re.search(r"<(sip:[^>]+)>", _hdr(ok, "Contact"))
        assert contact is not None
        target = contact.group(1)
        host, port = re.search(r"@([\d.]+):(\d+)", target).groups()  # type: ignore[union-attr]
        to = _hdr(ok, "To")
        for method, cseq in (("ACK", 1), ("BYE", 2)):
            request = (
                f"{method} {target} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {LO}:{self.port};branch=z9hG4bK{secrets.token_hex(6)}\r\n"
                f"Max-Forwards: 70\r\nFrom: <sip:5550100@{LO}>;tag={tag}\r\nTo: {to}\r\n"
                f"Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n"
            )
            self.sock.sendto(request.encode(), (host, int(port)))
        while True:  # the BYE's 200 (skip retransmitted 200s of the INVITE)
            text = self.sock.recv(65535).decode(errors="replace")
            if text.startswith("SIP/2.0 200") and "BYE" in _hdr(text, "CSeq"):
                break
        return ringing, answered


class Registrar:
    """A raw UDP registrar: 401, then 200; records our-401-sent → authenticated-REGISTER."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LO, 0))
        self.sock.settimeout(10.0)
        self.port = self.sock.getsockname()[1]

    def serve_one(self) -> float:
        challenged_at = 0.0
        while True:
            data, peer = self.sock.recvfrom(65535)
            arrived = time.perf_counter()
            text = data.decode(errors="replace")
            if not text.startswith("REGISTER"):
                continue
            fields = {n: _hdr(text, n) for n in ("Via", "From", "To", "Call-ID", "CSeq")}
            if "Authorization:" not in text:
                head = "\r\n".join(f"{n}: {v}" for n, v in fields.items())
                reply = (
                    f"SIP/2.0 401 Unauthorized\r\n{head}\r\nWWW-Authenticate: Digest "
                    f'realm="{LO}", nonce="{secrets.token_hex(8)}", qop="auth", '
                    "algorithm=MD5\r\nContent-Length: 0\r\n\r\n"
                )
                self.sock.sendto(reply.encode(), peer)
                challenged_at = time.perf_counter()
                continue
            contact = _hdr(text, "Contact")
            fields["To"] += ";tag=r"
            head = "\r\n".join(f"{n}: {v}" for n, v in fields.items())
            reply = (
                f"SIP/2.0 200 OK\r\n{head}\r\nContact: {contact};expires=600\r\n"
                "Content-Length: 0\r\n\r\n"
            )
            self.sock.sendto(reply.encode(), peer)
            return arrived - challenged_at


def _ms(values: list[float]) -> str:
    v = sorted(values)
    return (
        f"median {statistics.median(v) * 1000:6.2f} ms  "
        f"p90 {v[min(len(v) - 1, int(0.9 * len(v)))] * 1000:6.2f} ms  (n={len(v)})"
    )


def _baresip(work: Path, name: str, account_line: str, wav: Path, index: int) -> Baresip:
    phone = Baresip(
        workdir=work / name,
        source_wav=wav,
        account=account_line,
        rtp_ports=(32000 + 1000 * index, 32999 + 1000 * index),
    )
    phone.start()
    return phone


async def pi_ata_registers(registrar: Registrar, rounds: int) -> list[float]:
    out: list[float] = []
    endpoint = SipEndpoint(TransportConfig(host=LO, udp_port=0))
    await endpoint.start()
    try:
        for _ in range(rounds):
            served = asyncio.get_running_loop().run_in_executor(None, registrar.serve_one)
            cfg = RegistrationConfig(
                aor=aor(f"sip:bob@{LO}:{registrar.port}"),
                password=BENCH_PASSWORD,
                registrar=aor(f"sip:{LO}:{registrar.port}"),
                expires=600,
            )
            line = await endpoint.add_registration(cfg)
            out.append(await served)
            await asyncio.wait_for(endpoint.wait_for(line, {RegState.REGISTERED}), 5)
            line.registration.stop(endpoint.now())  # no un-REGISTER round: drop the line
            endpoint.lines.remove(line)
    finally:
        await endpoint.stop(grace=0.1)
    return out


async def main(calls: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    (work / "k").mkdir()
    k = Kamailio(workdir=work / "k", users=DEFAULT_USERS)
    k.start()
    t = np.arange(8000 * 300) / 8000.0
    wav = work / "tone.wav"
    write_wav(wav, np.rint(3000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16))
    carol = _baresip(
        work,
        "carol",
        (
            f"<sip:carol@{k.host}:{k.port}>;auth_pass={k.users['carol']};answermode=auto;"
            "audio_codecs=PCMU;ptime=20;regint=600"
        ),
        wav,
        0,
    )
    carol.wait_registered()
    caller = Caller()
    proxy = (k.host, k.port)
    loop = asyncio.get_running_loop()
    try:
        ours: list[tuple[float, float]] = []
        policy = CallPolicy(proxy_sources_only=False)  # the caller's ACK/BYE come direct
        async with running_manager(k, [account(k, "bob")], policy=policy) as manager:

            def answer_at_once(event: lp.Event) -> None:
                if isinstance(event, lp.IncomingCall):
                    manager.answer(event.call_id)

            manager.attach(0, answer_at_once)
            ours.extend(
                [await loop.run_in_executor(None, caller.call, "bob", proxy) for _ in range(calls)]
            )
        theirs = [caller.call("carol", proxy) for _ in range(calls)]
        registrar = Registrar()
        reg_ours = await pi_ata_registers(registrar, 5)
        reg_theirs: list[float] = []
        for i in range(5):
            served = loop.run_in_executor(None, registrar.serve_one)
            phone = _baresip(
                work,
                f"reg{i}",
                (f"<sip:dave@{LO}:{registrar.port}>;auth_pass=pw;regint=600;audio_codecs=PCMU"),
                wav,
                1 + i,
            )
            reg_theirs.append(await served)
            phone.stop()
    finally:
        carol.stop()
        k.stop()
    print(f"incoming calls through Kamailio, {calls} each, raw UDP caller, auto-answer")
    for label, index in (("INVITE -> 180", 0), ("INVITE -> 200", 1)):
        a = [x[index] for x in ours]
        b = [x[index] for x in theirs]
        print(f"  {label}  pi-ata  {_ms(a)}")
        print(f"  {label}  baresip {_ms(b)}")
        print(
            f"  {label}  ratio pi-ata/baresip (median) "
            f"{statistics.median(a) / statistics.median(b):.2f}"
        )
    print("REGISTER: our 401 sent -> authenticated REGISTER received (client work)")
    print(f"  pi-ata  {_ms(reg_ours)}")
    print(f"  baresip {_ms(reg_theirs)}")
    print(
        f"  ratio pi-ata/baresip (median) "
        f"{statistics.median(reg_ours) / statistics.median(reg_theirs):.2f}"
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20))
