"""The daemon provisions itself: at start it fetches its profile over HTTP (a real aiohttp
server on 127.0.0.1), stores it atomically and applies it to the running ports; a SPA flat
profile works the same way; a broken profile changes nothing and the reason is in the status."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from ata.runtime.daemon import Daemon, DaemonOptions
from provisioning.schema import Config, Line, Provisioning
from provisioning.store import load_config, save_config
from tests.runtime.test_daemon_api import RecordingCalls


@pytest.fixture
async def profile_server():
    profiles: dict[str, bytes] = {}

    async def handler(request: web.Request) -> web.Response:
        body = profiles.get(request.match_info["name"])
        if body is None:
            return web.Response(status=404)
        return web.Response(body=body)

    app = web.Application()
    app.router.add_get("/p/{name}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield profiles, f"http://127.0.0.1:{port}/p"
    await runner.cleanup()


async def start_daemon(tmp_path, url: str) -> Daemon:
    path = tmp_path / "config.toml"
    save_config(
        Config(
            lines=[Line(dial_plan="(1xxx)"), Line(dial_plan="(1xxx)")],
            provisioning=Provisioning(
                profile_rules=[url], dhcp_discovery=False, resync_random_delay_s=0
            ),
        ),
        path,
    )
    daemon = Daemon(
        load_config(path),
        lambda _d: RecordingCalls(),
        options=DaemonOptions(api_port=0, freeze_gc=False, admin_listen="", config_path=path),
    )
    await daemon.start()
    return daemon


async def until(predicate, within: float = 10.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def test_profile_fetched_at_boot_is_applied_to_the_running_port(
    tmp_path, profile_server
) -> None:
    profiles, base = profile_server
    profiles["a.toml"] = b'[[lines]]\ndial_plan = "(7xxx)"\n'
    daemon = await start_daemon(tmp_path, f"{base}/a.toml")
    try:
        assert await until(lambda: daemon.ports[0].machine.settings.dial_plan.text == "(7xxx)")
        assert daemon.ports[1].machine.settings.dial_plan.text == "(1xxx)"
        assert load_config(daemon.options.config_path).lines[0].dial_plan == "(7xxx)"
        assert daemon.provisioning_status()["state"] == "applied"
    finally:
        await daemon.stop()


async def test_spa_flat_profile_applied(tmp_path, profile_server) -> None:
    profiles, base = profile_server
    profiles["spa.xml"] = (
        b"<flat-profile><Dial_Plan_2_>(9xxx)</Dial_Plan_2_>"
        b"<Display_Name_2_>Kitchen</Display_Name_2_></flat-profile>"
    )
    daemon = await start_daemon(tmp_path, f"{base}/spa.xml")
    try:
        assert await until(lambda: daemon.ports[1].machine.settings.dial_plan.text == "(9xxx)")
        assert daemon.config.lines[1].display_name == "Kitchen"
    finally:
        await daemon.stop()


async def test_broken_profile_changes_nothing(tmp_path, profile_server) -> None:
    profiles, base = profile_server
    profiles["bad.toml"] = b'[[lines]]\ndial_plan = "(7xx"\n'
    daemon = await start_daemon(tmp_path, f"{base}/bad.toml")
    try:
        assert await until(lambda: daemon.provisioning_status()["state"] == "error")
        assert "dial_plan" in (daemon.provisioning_status()["last_error"] or "")
        assert daemon.ports[0].machine.settings.dial_plan.text == "(1xxx)"
        assert load_config(daemon.options.config_path).lines[0].dial_plan == "(1xxx)"
    finally:
        await daemon.stop()
