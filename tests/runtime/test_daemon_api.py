"""The daemon on the simulated board in real time, driven through its HTTP API.

The call side is a recording stand-in here: what is under test is the daemon assembly (board,
ports, DSP, API); SIP calls through the daemon are tested end to end in tests/integration.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from ata.runtime.daemon import Daemon, DaemonOptions
from provisioning.schema import Config, Line
from tests.runtime import port_support


class RecordingCalls(port_support.RecordingCalls):
    """The port stand-in plus what the daemon asks of its call layer (start, stop, status);
    places are recorded with their port."""

    async def start(self) -> None:
        self.actions.append(("start",))

    async def stop(self) -> None:
        self.actions.append(("stop",))

    def status(self) -> list[dict[str, Any]]:
        return [{"registration": "none"}, {"registration": "none"}]

    def place_call(self, port: int, call_id: str, number: str) -> None:
        self.actions.append(("place", str(port), call_id, number))


@pytest.fixture
async def daemon():
    calls = RecordingCalls()
    config = Config(lines=[Line(dial_plan="(1xxx|2xx)"), Line(dial_plan="(1xxx)")])
    d = Daemon(config, lambda _d: calls, options=DaemonOptions(api_port=0, freeze_gc=False))
    await d.start()
    yield d, calls
    await d.stop()


async def wait_until(predicate, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_api_drives_the_virtual_phone_and_reports_status(daemon) -> None:
    d, calls = daemon
    base = f"http://127.0.0.1:{d.api_port}"
    async with aiohttp.ClientSession() as http:
        status = await (await http.get(f"{base}/api/status")).json()
        assert status["board"] == "sim"
        assert [line["state"] for line in status["lines"]] == ["idle", "idle"]
        r = await http.post(f"{base}/api/sim/1/hook", json={"off_hook": True})
        assert r.status == 200
        await asyncio.sleep(0.6)
        phone = await (await http.get(f"{base}/api/sim/1/phone?window=0.4")).json()
        freqs = sorted(t["freq_hz"] for t in phone["tones"])[:2]
        assert abs(freqs[0] - 350) < 5 and abs(freqs[1] - 440) < 5, phone
        line = await (await http.get(f"{base}/api/lines/1")).json()
        assert line["state"] == "dialing" and line["tone"] == "dial"
        r = await http.post(f"{base}/api/sim/1/dial", json={"digits": "1234", "mode": "dtmf"})
        assert r.status == 202
        await wait_until(lambda: any(a[0] == "place" for a in calls.actions))
        assert ("place", "0", "port0-1", "1234") in calls.actions
        wav = await (await http.get(f"{base}/api/sim/1/recording.wav?seconds=1")).read()
        assert wav[:4] == b"RIFF" and len(wav) > 16000


async def test_api_refuses_bad_requests(daemon) -> None:
    d, _ = daemon
    base = f"http://127.0.0.1:{d.api_port}"
    async with aiohttp.ClientSession() as http:
        assert (await http.get(f"{base}/api/lines/9")).status == 404
        assert (await http.post(f"{base}/api/sim/1/hook", data=b"nope")).status == 400
        assert (await http.post(f"{base}/api/sim/1/hook", json={"off_hook": "yes"})).status == 400
        r = await http.post(f"{base}/api/sim/2/dial", json={"digits": "12"})
        assert r.status == 409  # on-hook
        assert (await r.json())["error"] == "the phone is on-hook"
        r = await http.post(f"{base}/api/sim/2/dial", json={"digits": "12x"})
        assert r.status == 400


async def test_web_admin_served_by_the_daemon_shows_lines_and_applies_config(
    tmp_path, caplog
) -> None:
    import logging
    import re
    import socket

    from provisioning.passwords import hash_password
    from provisioning.schema import Admin
    from provisioning.store import load_config

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        admin_port = s.getsockname()[1]
    config = Config(
        lines=[Line(dial_plan="(1xxx)", user="1001"), Line(dial_plan="(1xxx)")],
        admin=Admin(password_hash=hash_password("admin pass 123")),
    )
    caplog.set_level(logging.INFO)
    calls = RecordingCalls()
    path = tmp_path / "config.toml"
    d = Daemon(
        config,
        lambda _d: calls,
        options=DaemonOptions(
            api_port=0, freeze_gc=False, config_path=path, admin_listen=f"127.0.0.1:{admin_port}"
        ),
    )
    await d.start()
    try:
        base = f"http://127.0.0.1:{admin_port}"
        # unsafe=True: aiohttp keeps no cookies for IP-address hosts otherwise
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            page = await (await http.get(f"{base}/login")).text()
            token = re.search(r'name="login_token" value="([^"]+)"', page)
            assert token is not None
            form = {"password": "admin pass 123", "login_token": token.group(1)}
            r = await http.post(f"{base}/login", data=form)
            assert r.status == 200  # after the redirect to the status page
            status = (await (await http.get(f"{base}/api/status")).json())["status"]
            assert [line["port"] for line in status["lines"]] == [1, 2]
            assert status["lines"][0]["user"] == "1001"
            assert status["lines"][0]["hook"] == "on"
            # the admin's log page holds daemon log lines, redacted
            logs = await (await http.get(f"{base}/logs")).text()
            assert "board sim selected" in logs
        new = Config(
            lines=[Line(dial_plan="(2xxx)", user="1001"), Line(dial_plan="(1xxx)")],
            admin=config.admin,
        )
        assert await d._admin_backend().apply_config(new) == []
        assert load_config(path).lines[0].dial_plan == "(2xxx)"
        assert d.ports[0].machine.settings.dial_plan.text == "(2xxx)"
        bad = Config(lines=[Line(dial_plan="(2xxx)")] * 3, admin=config.admin)
        errors = await d._admin_backend().apply_config(bad)
        assert [e.path for e in errors] == ["lines"]
    finally:
        await d.stop()
