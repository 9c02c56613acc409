"""The web admin of the real daemon in a real browser (Debian Chromium via Playwright): the
simulated board, the embedded registrar, both ports registered. Log in, see the registered
lines, change a setting and see it applied, and place a call between the two ports from the
virtual-phone panel: port 2 rings and shows caller ID decoded from its line audio."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from ata.runtime.daemon import Daemon, DaemonOptions
from ata.runtime.demo import demo_config
from ata.runtime.sip_calls import sip_calls
from provisioning.passwords import hash_password
from provisioning.schema import Admin
from provisioning.store import load_config
from tests.peers import free_port, missing_peer, require_binary

try:
    import playwright.async_api as playwright_api
except ImportError:  # pragma: no cover - the test extra installs it
    playwright_api = None  # type: ignore[assignment]

pytestmark = [pytest.mark.peers, pytest.mark.timeout(120)]

PASSWORD = "browser test password"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest_asyncio.fixture
async def daemon(tmp_path) -> AsyncIterator[tuple[Daemon, str]]:
    admin_port = _tcp_port()
    config = demo_config()
    config = type(config)(
        lines=config.lines,
        registrar=config.registrar,
        admin=Admin(password_hash=hash_password(PASSWORD)),
    )
    d = Daemon(
        config,
        sip_calls,
        options=DaemonOptions(
            api_port=0,
            freeze_gc=False,
            config_path=tmp_path / "config.toml",
            admin_listen=f"127.0.0.1:{admin_port}",
            registrar_port=free_port(),
            registrar_host="127.0.0.1",
        ),
    )
    await d.start()
    yield d, f"http://127.0.0.1:{admin_port}"
    await d.stop()


async def test_admin_of_the_real_daemon_places_a_call_between_the_ports(daemon) -> None:
    d, base = daemon
    executable = require_binary("chromium")
    if playwright_api is None:
        missing_peer("python package 'playwright' (pip install -e '.[test]')")
    expect = playwright_api.expect
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, args=ARGS)
        page = await browser.new_page()
        page.set_default_timeout(8000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            await page.goto(base + "/login")
            await page.fill("#password", PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_url(base + "/")
            # both ports registered with the embedded registrar
            for port in (1, 2):
                await expect(
                    page.locator(f'[data-key="lines.{port}.registration.state"]')
                ).to_have_text("registered")
            # change a setting; it is saved and applied to the running port
            await page.click("nav >> text=Configuration")
            await page.fill('[name="lines[1].dial_plan"]', "(10xx|*xx|9xx)")
            await page.click("text=Save and apply")
            await expect(page.get_by_role("status")).to_contain_text("Saved and applied")
            assert d.ports[1].machine.settings.dial_plan.text == "(10xx|*xx|9xx)"
            assert load_config(d.options.config_path).lines[1].dial_plan == "(10xx|*xx|9xx)"
            # the virtual-phone panel: phone 1 calls phone 2
            await page.click("nav >> text=Virtual phones")
            await page.click('[data-testid="offhook-1"]')
            await expect(page.locator('[data-key="sim.1.heard.tones"]')).to_contain_text("440 Hz")
            for key in "1002":
                await page.click(f'[data-testid="key-1-{key}"]')
            await expect(page.locator('[data-key="sim.2.ringing"]')).to_have_text(
                "ringing", timeout=10000
            )
            await expect(page.locator('[data-key="sim.2.cid.number"]')).to_have_text(
                "1001", timeout=10000
            )
            await page.click('[data-testid="offhook-2"]')
            await expect(page.locator('[data-key="sim.2.ringing"]')).to_have_text("silent")
            phone1 = d.sim.phones[0]  # type: ignore[union-attr]
            assert await phone1.wait_for(
                lambda: [p.machine.state.value for p in d.ports] == ["connected"] * 2, 3.0
            )
            await page.click('[data-testid="onhook-1"]')
            await page.click('[data-testid="onhook-2"]')
            await page.click("nav >> text=Call log")
            await expect(page.locator("main")).to_contain_text("1002")
            assert errors == []
        finally:
            await browser.close()
