"""SIP NOTIFY check-sync makes the daemon fetch its profile again (from a proxy's address);
the same NOTIFY from a stranger gets no answer and changes nothing."""

from __future__ import annotations

import asyncio
import socket

import pytest
from aiohttp import web

from ata.runtime.daemon import Daemon, DaemonOptions
from ata.runtime.demo import demo_config
from ata.runtime.sip_calls import sip_calls
from provisioning.schema import Config, Provisioning
from provisioning.store import load_config, save_config
from tests.peers import free_port

pytestmark = [pytest.mark.peers, pytest.mark.timeout(60)]


def notify(target: tuple[str, int], source_ip: str, n: int) -> bytes | None:
    """Send an out-of-dialog NOTIFY check-sync from ``source_ip``; the reply, or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source_ip, 0))
        sock.settimeout(1.0)
        port = sock.getsockname()[1]
        message = (
            f"NOTIFY sip:1001@127.0.0.1:{target[1]} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {source_ip}:{port};branch=z9hG4bK-resync-{n}\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:proxy@{source_ip}>;tag=r{n}\r\nTo: <sip:1001@127.0.0.1>\r\n"
            f"Call-ID: resync-{n}-{port}\r\nCSeq: 1 NOTIFY\r\nEvent: check-sync\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        sock.sendto(message.encode(), target)
        try:
            return sock.recv(65535)
        except TimeoutError:
            return None


async def test_notify_check_sync_from_the_proxy_resyncs_and_from_a_stranger_not(tmp_path):
    fetches: list[str] = []
    fetched = asyncio.Event()
    profile = {"body": b'[[lines]]\ndial_plan = "(10xx)"\n'}

    async def handler(request: web.Request) -> web.Response:
        fetches.append(request.path)
        fetched.set()
        return web.Response(body=profile["body"])

    app = web.Application()
    app.router.add_get("/profile.toml", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/profile.toml"

    base = demo_config()
    path = tmp_path / "config.toml"
    save_config(
        Config(
            lines=base.lines,
            registrar=base.registrar,
            provisioning=Provisioning(
                profile_rules=[url],
                dhcp_discovery=False,
                resync_random_delay_s=0,
                resync_periodic_s=0,
            ),
        ),
        path,
    )
    options = DaemonOptions(
        api_port=0,
        freeze_gc=False,
        admin_listen="",
        config_path=path,
        registrar_port=free_port(),
        registrar_host="127.0.0.1",
    )
    daemon = Daemon(load_config(path), sip_calls, options=options)
    await daemon.start()
    try:
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(fetched.wait(), 10)
        assert len(fetches) == 1, "fetched once at boot"
        sip_port = daemon.calls.manager.endpoint.transport.local_address("udp")[1]  # type: ignore[union-attr]
        target = ("127.0.0.1", sip_port)
        # a stranger (another loopback address, not a proxy of ours): silence, no fetch
        reply = await asyncio.to_thread(notify, target, "127.0.0.2", 1)
        assert reply is None
        await asyncio.sleep(0.5)
        assert len(fetches) == 1
        # the proxy's address: 200 and a new fetch, whose profile is applied
        profile["body"] = b'[[lines]]\ndial_plan = "(10xx|5xx)"\n'
        reply = await asyncio.to_thread(notify, target, "127.0.0.1", 2)
        assert reply is not None and reply.startswith(b"SIP/2.0 200")
        deadline = loop.time() + 10
        while daemon.ports[0].machine.settings.dial_plan.text != "(10xx|5xx)":
            assert loop.time() < deadline, "the resync applied the new profile"
            await asyncio.sleep(0.05)
        assert len(fetches) == 2
    finally:
        await daemon.stop()
        await runner.cleanup()
