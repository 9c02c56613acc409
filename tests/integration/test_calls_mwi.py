"""Message waiting (RFC 3842) through the CallManager against real peers.

- sipp as a voicemail notifier: pi-ata subscribes to message-summary, the NOTIFYs (waiting
  yes, then no with the subscription terminated) reach the port as ``MessageWaiting``, and a
  real PortMachine fed those events gives stutter dial tone, then normal dial tone.
- Kamailio (no presence module): the SUBSCRIBE is challenged (digest) and routed; nobody
  offers the event package, so pi-ata gives up quietly and keeps its registration.
- an unsolicited message-summary NOTIFY relayed by Kamailio reaches the port too; with the
  daemon on the simulated board the idle phone decodes the VMWI FSK burst (lamp on, then
  off) and hears stutter dial tone.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from ata.line import port as lp
from ata.runtime.calls import CallManager, LineAccount
from ata.runtime.daemon import Daemon, DaemonOptions
from ata.runtime.sip_calls import sip_calls
from ata.runtime.sip_endpoint import SipEndpoint
from ata.runtime.sip_transport import TransportConfig
from ata.sip.subscription import GIVE_UP_STATUSES, SubState
from provisioning.schema import Config, Line, Network
from tests.integration.calls_support import PortStandIn, RawPeer, account, running_manager
from tests.peers import free_port, require_binary
from tests.peers.kamailio import Kamailio

pytestmark = [pytest.mark.peers, pytest.mark.timeout(60)]

SIPP_DIR = Path(__file__).parent / "sipp"


@asynccontextmanager
async def manager_for(acc: LineAccount) -> AsyncIterator[tuple[CallManager, PortStandIn]]:
    endpoint = SipEndpoint(TransportConfig(host="127.0.0.1", udp_port=0))
    manager = CallManager(endpoint, [acc], rtp_port_range=(45000, 45999), own_endpoint=True)
    port = PortStandIn(manager, 0, 440.0)
    await manager.start()
    try:
        yield manager, port
    finally:
        await manager.stop(grace=1.0)


async def until(condition: object, timeout: float = 5.0) -> None:
    assert callable(condition)
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)  # polling the manager's state in a test


def _start_notifier(sipp: str, port: int, workdir: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sipp, "-sf", str(SIPP_DIR / "mwi_notifier.xml"), "-i", "127.0.0.1",
         "-p", str(port), "-m", "1", "-nr", "-timeout", "20", "-nostdin",
         "-trace_msg", "-message_file", str(workdir / "sipp-msgs.log"),
         "-trace_err", "-error_file", str(workdir / "sipp-err.log")],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


async def test_sipp_notifier_drives_stutter_dial_tone(tmp_path: Path) -> None:
    sipp = require_binary("sipp")
    sipp_port = free_port(also_tcp=False)
    proc = _start_notifier(sipp, sipp_port, tmp_path)
    try:
        # (if sipp binds after our first SUBSCRIBE, the retransmission at T1 reaches it)
        acc = LineAccount(
            user="alice", domain=f"127.0.0.1:{sipp_port}", register=False, mwi_subscribe=True
        )
        async with manager_for(acc) as (manager, port):
            on = await port.wait(lp.MessageWaiting, timeout=10)
            assert on == lp.MessageWaiting(True)
            await until(lambda: len(port.of(lp.MessageWaiting)) >= 2)
            assert port.of(lp.MessageWaiting) == [lp.MessageWaiting(True), lp.MessageWaiting(False)]
            line = manager.lines[0]
            assert line is not None and line.agent is not None
            (sub,) = line.agent.subscriptions.values()
            assert sub.state is SubState.STOPPED  # terminated;reason=rejected: no retry
            assert line.message_waiting is False
            assert manager.status()[0]["message_waiting"] is False
            returncode = await asyncio.to_thread(proc.wait, 10)
        assert returncode == 0, (tmp_path / "sipp-msgs.log").read_text(errors="replace")[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    messages = (tmp_path / "sipp-msgs.log").read_text(errors="replace")
    assert "Event: message-summary" in messages
    assert "Accept: application/simple-message-summary" in messages
    # The same events drive a real port: stutter dial tone while messages wait.
    machine = lp.PortMachine(0)
    machine.handle(lp.MessageWaiting(True), 0.0)
    assert lp.PlayTone(lp.Tone.STUTTER) in machine.handle(lp.OffHook(), 1.0)
    assert lp.PlayTone(lp.Tone.DIAL) in machine.handle(lp.MessageWaiting(False), 2.0)


async def test_kamailio_without_presence_gives_up_quietly(kamailio: Kamailio) -> None:
    acc = account(kamailio, "alice", mwi_subscribe=True, mwi_expires=600)
    async with running_manager(kamailio, [acc]) as manager:
        line = manager.lines[0]
        assert line is not None and line.agent is not None
        agent = line.agent
        await until(lambda: bool(agent.subscriptions))
        (sub,) = agent.subscriptions.values()
        await until(lambda: sub.state is SubState.STOPPED)
        assert sub.state is SubState.STOPPED
        # Kamailio routes the SUBSCRIBE to the registered contact (us again); the answer there
        # (501: a phone line is no notifier) comes back through Kamailio, after one challenge.
        assert sub.last_status in GIVE_UP_STATUSES, sub.last_status
        assert sub.cseq == 2, "the 407 challenge was answered once"
        assert sub.timer_at is None
        assert manager.registered(0)


async def test_unsolicited_notify_through_kamailio_reaches_the_port(kamailio: Kamailio) -> None:
    async with running_manager(kamailio, [account(kamailio, "alice")]) as manager:
        port = PortStandIn(manager, 0, 440.0)
        peer = RawPeer()
        try:
            body = "Messages-Waiting: yes\r\nVoice-Message: 1/0\r\n"
            peer.send(
                "\n".join(
                    [
                        f"NOTIFY sip:alice@{kamailio.host}:{kamailio.port} SIP/2.0",
                        f"Via: SIP/2.0/UDP {peer.host}:{peer.port};branch=z9hG4bKvm1",
                        "Max-Forwards: 70",
                        f"From: <sip:voicemail@{peer.host}>;tag=vm1",
                        f"To: <sip:alice@{kamailio.host}:{kamailio.port}>",
                        "Call-ID: vm-unsolicited-1@raw",
                        "CSeq: 1 NOTIFY",
                        "Event: message-summary",
                        "Subscription-State: active",
                        "Content-Type: application/simple-message-summary",
                    ]
                )
                + "\r\n\r\n"
                + body,
                (kamailio.host, kamailio.port),
            )
            assert (await peer.expect("SIP/2.0 200")).startswith("SIP/2.0 200")
            assert await port.wait(lp.MessageWaiting) == lp.MessageWaiting(True)
        finally:
            peer.close()


def _mwi_notify(peer: RawPeer, k: Kamailio, user: str, waiting: bool, n: int) -> str:
    body = f"Messages-Waiting: {'yes' if waiting else 'no'}\r\nVoice-Message: {int(waiting)}/0\r\n"
    return (
        "\n".join(
            [
                f"NOTIFY sip:{user}@{k.host}:{k.port} SIP/2.0",
                f"Via: SIP/2.0/UDP {peer.host}:{peer.port};branch=z9hG4bKvmwi{n}",
                "Max-Forwards: 70",
                f"From: <sip:voicemail@{peer.host}>;tag=vm{n}",
                f"To: <sip:{user}@{k.host}:{k.port}>",
                f"Call-ID: vmwi-{n}@raw",
                "CSeq: 1 NOTIFY",
                "Event: message-summary",
                "Subscription-State: active",
                "Content-Type: application/simple-message-summary",
            ]
        )
        + "\r\n\r\n"
        + body
    )


async def test_idle_phone_gets_vmwi_and_stutter_dial_tone(kamailio: Kamailio) -> None:
    config = Config(
        network=Network(local_port=free_port(), rtp_port_min=45000, rtp_port_max=45998),
        lines=[
            Line(
                proxy=f"{kamailio.host}:{kamailio.port}",
                user="1001",
                password=kamailio.users["1001"],
            )
        ],
    )
    daemon = Daemon(
        config, sip_calls, options=DaemonOptions(api_port=0, freeze_gc=False, admin_listen="")
    )
    await daemon.start()
    peer = RawPeer()
    try:
        phone = daemon.phone(1)
        assert phone is not None
        assert await phone.wait_for(lambda: bool(kamailio.contacts("1001")), 5.0)
        peer.send(_mwi_notify(peer, kamailio, "1001", True, 1), (kamailio.host, kamailio.port))
        await peer.expect("SIP/2.0 200")
        assert await phone.wait_for(lambda: any(c.vmwi for c in phone.caller_ids), 5.0)
        lamp = phone.caller_ids[-1]
        assert (lamp.message_type, lamp.vmwi) == (0x82, True)
        assert daemon.ports[0].machine.settings.message_waiting
        phone.off_hook()
        await phone.wait_for(lambda: False, 0.6)
        assert daemon.ports[0].machine.state.value == "dialing"
        # stutter dial tone: dial tone (350+440 Hz) broken by 100 ms gaps
        heard = [round(t.freq_hz) for t in phone.dominant_tones(0.5)]
        assert any(abs(f - 350) < 8 for f in heard), heard
        assert daemon.ports[0].status().tone == "stutter"
        phone.on_hook()
        await phone.wait_for(lambda: False, 0.3)
        peer.send(_mwi_notify(peer, kamailio, "1001", False, 2), (kamailio.host, kamailio.port))
        await peer.expect("SIP/2.0 200")
        assert await phone.wait_for(lambda: phone.caller_ids[-1].vmwi is False, 5.0)
    finally:
        peer.close()
        await daemon.stop()
