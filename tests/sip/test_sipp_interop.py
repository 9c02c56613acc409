"""Interop with a real, independent SIP stack: sipp calls pi-ata's UserAgent and is called by it,
over real UDP sockets on 127.0.0.1. The test drives the sans-IO UA with a small select loop
(the production asyncio driver lives in ata/runtime)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Callable

from ata.sip.call import CallAnswered, CallEnded, CallEvent, CallIncoming, MediaUpdate
from ata.sip.sdp import AudioConfig
from ata.sip.ua import UaConfig, UserAgent
from tests.peers import LOOPBACK, free_port, require_binary

_T0 = time.monotonic()


def now_s() -> float:
    """The UA's clock for these tests: monotonic seconds since import (never goes back)."""
    return time.monotonic() - _T0


def _drive(
    ua: UserAgent,
    sock: socket.socket,
    on_event: Callable[[CallEvent, float], bool],
    deadline: float,
) -> list[CallEvent]:
    """Run the UA until ``on_event`` returns True (done) or the deadline passes."""
    seen: list[CallEvent] = []
    start = now_s()
    done = False
    while not done and now_s() - start < deadline:
        now = now_s()
        for out in ua.datagrams_to_send():
            sock.sendto(out.data, out.addr)
        timer = ua.get_timer()
        wait = 0.05 if timer is None else min(0.05, max(0.0, timer - now))
        sock.settimeout(max(wait, 0.001))
        with contextlib.suppress(TimeoutError, ConnectionRefusedError):
            data, addr = sock.recvfrom(65535)
            ua.receive(data, addr, now_s())
        now = now_s()
        timer = ua.get_timer()
        if timer is not None and timer <= now:
            ua.handle_timer(now)
        while (ev := ua.next_event()) is not None:
            seen.append(ev)
            done = done or on_event(ev, now)
    for out in ua.datagrams_to_send():  # flush (final ACK / 200 for BYE)
        sock.sendto(out.data, out.addr)
    return seen


def _ua(port: int, user: str, proxy: tuple[str, int] | None = None) -> UserAgent:
    cfg = UaConfig(
        user=user,
        domain=LOOPBACK,
        local_host=LOOPBACK,
        local_port=port,
        outbound_proxy=proxy,
        audio=AudioConfig(address=LOOPBACK, port=free_port(also_tcp=False)),
    )
    return UserAgent(cfg)


def test_sipp_calls_pi_ata() -> None:
    sipp = require_binary("sipp")
    our_port = free_port(also_tcp=False)
    sipp_port = free_port(also_tcp=False)
    ua = _ua(our_port, "service")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, our_port))
        proc = subprocess.Popen(
            [sipp, "-sn", "uac", f"{LOOPBACK}:{our_port}", "-s", "service", "-i", LOOPBACK,
             "-p", str(sipp_port), "-m", "1", "-d", "300", "-timeout", "20", "-nostdin"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        try:

            def on_event(ev: CallEvent, now: float) -> bool:
                if isinstance(ev, CallIncoming):
                    assert ua.answer(ev.handle, now)
                return isinstance(ev, CallEnded)

            events = _drive(ua, sock, on_event, deadline=15.0)
            rc = proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "CallIncoming", kinds
    incoming = events[0]
    assert isinstance(incoming, CallIncoming)
    assert incoming.number == "sipp"
    assert any(isinstance(e, MediaUpdate) for e in events)
    assert isinstance(events[-1], CallEnded)
    assert events[-1].cause == "remote-bye"
    assert rc == 0, f"sipp reported a failed call: {err[-2000:]}"


def test_pi_ata_calls_sipp_and_hangs_up() -> None:
    sipp = require_binary("sipp")
    our_port = free_port(also_tcp=False)
    sipp_port = free_port(also_tcp=False)
    ua = _ua(our_port, "alice", proxy=(LOOPBACK, sipp_port))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, our_port))
        proc = subprocess.Popen(
            [sipp, "-sn", "uas", "-i", LOOPBACK, "-p", str(sipp_port), "-m", "1",
             "-timeout", "20", "-nostdin"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            # If sipp has not bound yet, the INVITE retransmission (Timer A) reaches it.
            ua.place_call("c1", "sipp", now_s())

            def on_event(ev: CallEvent, now: float) -> bool:
                if isinstance(ev, CallAnswered):
                    assert ua.hang_up("c1", now)
                return isinstance(ev, CallEnded)

            events = _drive(ua, sock, on_event, deadline=15.0)
            # Let the BYE transaction finish so sipp sees its 200 acknowledged.
            _drive(ua, sock, lambda ev, now: False, deadline=0.5)
            rc = proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    kinds = [type(e).__name__ for e in events]
    assert "CallAnswered" in kinds, kinds
    assert isinstance(events[-1], CallEnded)
    assert events[-1].cause == "local"
    assert rc == 0, f"sipp reported a failed call: {err[-2000:]}"


def test_sipp_calls_pi_ata_over_tcp_through_the_stream_framer() -> None:
    from ata.sip.parser import StreamFramer

    sipp = require_binary("sipp")
    our_port = free_port()
    sipp_port = free_port()
    cfg = UaConfig(
        user="service",
        domain=LOOPBACK,
        local_host=LOOPBACK,
        local_port=our_port,
        transport="tcp",
        audio=AudioConfig(address=LOOPBACK, port=free_port(also_tcp=False)),
    )
    ua = UserAgent(cfg)
    events: list[CallEvent] = []
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((LOOPBACK, our_port))
        server.listen(1)
        proc = subprocess.Popen(
            [sipp, "-sn", "uac", f"{LOOPBACK}:{our_port}", "-s", "service", "-i", LOOPBACK,
             "-p", str(sipp_port), "-t", "t1", "-m", "1", "-d", "200", "-timeout", "20",
             "-nostdin"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            server.settimeout(10)
            conn, peer = server.accept()
            with conn:
                framer = StreamFramer()
                start = now_s()
                ended = False
                while not ended and now_s() - start < 15:
                    conn.settimeout(0.05)
                    with contextlib.suppress(TimeoutError):
                        chunk = conn.recv(65535)
                        if not chunk:
                            break
                        framer.feed(chunk)
                    while (frame := framer.next_message()) is not None:
                        ua.receive(frame, peer, now_s(), "tcp")
                    timer = ua.get_timer()
                    if timer is not None and timer <= now_s():
                        ua.handle_timer(now_s())
                    while (ev := ua.next_event()) is not None:
                        events.append(ev)
                        if isinstance(ev, CallIncoming):
                            ua.answer(ev.handle, now_s())
                        ended = ended or isinstance(ev, CallEnded)
                    for out in ua.datagrams_to_send():
                        assert out.transport == "tcp"
                        conn.sendall(out.data)
                rc = proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    assert isinstance(events[0], CallIncoming)
    assert isinstance(events[-1], CallEnded)
    assert events[-1].cause == "remote-bye"
    assert rc == 0, f"sipp reported a failed call: {err[-2000:]}"
