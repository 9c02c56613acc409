"""The web admin in a real browser: Debian's headless Chromium driven by Playwright, against the
fake daemon served on 127.0.0.1. Checks what only a browser shows: the script refreshes live
values under the strict CSP, forms post with their tokens, errors land next to their fields,
the virtual-phone buttons reach the backend, and a hostile caller name stays text."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from provisioning.web.server import create_app
from tests.peers import missing_peer, require_binary
from tests.web.conftest import PASSWORD, XSS, make_config
from tests.web.fake_backend import FakeBackend

try:
    import playwright.async_api as playwright_api
except ImportError:  # pragma: no cover - the test extra installs it
    playwright_api = None  # type: ignore[assignment]

pytestmark = pytest.mark.asyncio(loop_scope="module")

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 5000


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser() -> AsyncIterator[object]:
    executable = require_binary("chromium")
    if playwright_api is None:
        missing_peer("python package 'playwright' (pip install -e '.[test]')")
    async with playwright_api.async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


class Site:
    def __init__(self, backend: FakeBackend, base: str, page: object) -> None:
        self.backend = backend
        self.base = base
        self.page = page
        self.console_errors: list[str] = []
        self.dialogs: list[str] = []

    def url(self, path: str) -> str:
        return self.base + path


@pytest_asyncio.fixture(loop_scope="module")
async def site(browser: object) -> AsyncIterator[Site]:
    backend = FakeBackend(make_config())
    app = create_app(backend, status_refresh_s=0.2, sim_refresh_s=0.2)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    context = await browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    result = Site(backend, str(server.make_url("")).rstrip("/"), page)

    def on_console(message: object) -> None:
        text = message.text
        # HTTP error statuses the tests provoke (401 on a wrong password) are not page errors
        if message.type == "error" and not text.startswith("Failed to load resource"):
            result.console_errors.append(text)

    async def on_dialog(dialog: object) -> None:
        result.dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("console", on_console)
    page.on("pageerror", lambda error: result.console_errors.append(str(error)))
    page.on("dialog", on_dialog)
    try:
        yield result
    finally:
        await context.close()
        await server.close()


async def log_in(site: Site) -> None:
    page = site.page
    await page.goto(site.url("/login"))
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(site.url("/"))


def expect(locator: object) -> object:
    return playwright_api.expect(locator)


async def test_login_status_and_live_refresh(site: Site, tmp_path: Path) -> None:
    page = site.page
    await page.goto(site.url("/"))
    assert page.url == site.url("/login")
    await page.fill("#password", "wrong password")
    await page.click("button[type=submit]")
    await expect(page.get_by_role("alert")).to_contain_text("Wrong password")
    await log_in(site)
    state = page.locator('[data-key="lines.1.registration.state"]')
    await expect(state).to_have_text("registered")
    await expect(page.locator('[data-key="lines.1.user"]')).to_have_text("1001")
    await expect(page.locator('[data-key="lines.2.registration.state"]')).to_have_text("disabled")
    shot = tmp_path / "status.png"
    await page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 5000
    keep = os.environ.get("WEB_SCREENSHOT_DIR")
    if keep:
        shutil.copy(shot, Path(keep) / "status.png")
    # the page script refreshes values from /api/status without a reload
    site.backend.registration[1] = "failed"
    site.backend.last_error[1] = "403 Forbidden"
    await expect(state).to_have_text("failed")
    await expect(state).to_have_attribute("data-state", "failed")
    await expect(page.locator('[data-key="lines.1.registration.detail"]')).to_have_text(
        "last error: 403 Forbidden"
    )
    assert site.console_errors == []  # nothing blocked by the Content-Security-Policy


async def test_change_a_setting_and_see_it_applied(site: Site) -> None:
    page = site.page
    await log_in(site)
    await page.click("nav >> text=Configuration")
    await page.fill('[name="lines[0].user"]', "3003")
    await page.fill('[name="lines[0].registration.expires"]', "900")
    await page.select_option('[name="device.country"]', "de")
    await page.click("text=Save and apply")
    await expect(page.get_by_role("status")).to_contain_text("Saved and applied")
    config = site.backend.config
    assert config.lines[0].user == "3003"
    assert config.lines[0].registration.expires == 900
    assert config.device.country == "de"
    assert config.lines[0].password == make_config().lines[0].password  # write-only, kept
    await expect(page.locator('[name="lines[0].password"]')).to_have_value("")
    await page.click("nav >> text=Status")
    await expect(page.locator('[data-key="lines.1.user"]')).to_have_text("3003")
    await expect(page.locator('[data-key="lines.1.registration.detail"]')).to_have_text(
        "expires in 900 s"
    )


async def test_bad_value_rejected_in_place(site: Site) -> None:
    page = site.page
    await log_in(site)
    await page.goto(site.url("/config"))
    await page.fill('[name="lines[0].registration.expires"]', "5")
    await page.fill('[name="lines[0].proxy"]', "not a host!")
    await page.click("text=Save and apply")
    field = page.locator(".field", has=page.locator('[name="lines[0].registration.expires"]'))
    await expect(field.locator(".field-error")).to_have_text("must be 60..86400, got 5")
    await expect(field.locator("input")).to_have_attribute("aria-invalid", "true")
    await expect(field.locator("input")).to_have_value("5")
    proxy = page.locator(".field", has=page.locator('[name="lines[0].proxy"]'))
    await expect(proxy.locator(".field-error")).to_be_visible()
    await expect(page.get_by_role("alert")).to_contain_text("Not saved")
    assert site.backend.applied == []
    assert site.backend.config.lines[0].registration.expires == 3600


async def test_virtual_phone_panel(site: Site) -> None:
    page = site.page
    sim = site.backend.sim
    assert sim is not None
    await log_in(site)
    await page.click("nav >> text=Virtual phones")
    await page.click('[data-testid="offhook-1"]')
    await expect(page.locator('[data-key="sim.1.hook"]')).to_have_text("off hook")
    await expect(page.locator('[data-key="sim.1.heard.tones"]')).to_have_text(
        "350 Hz + 440 Hz at -13.0 dBm0"
    )
    for key in ("5", "#"):
        await page.click(f'[data-testid="key-1-{key}"]')
    await page.select_option('[data-testid="mode-1"]', "pulse")
    await page.click('[data-testid="key-1-7"]')
    await page.click('[data-testid="flash-1"]')
    await page.click('[data-testid="onhook-1"]')
    await expect(page.locator('[data-key="sim.1.hook"]')).to_have_text("on hook")
    assert sim.actions == [
        ("hook", 1, True),
        ("dial", 1, "5", "dtmf"),
        ("dial", 1, "#", "dtmf"),
        ("dial", 1, "7", "pulse"),
        ("flash", 1),
        ("hook", 1, False),
    ]
    assert page.url == site.url("/sim")  # script posts, no reload
    # a refused action shows the backend's reason on that phone
    await page.click('[data-testid="key-2-3"]')
    await expect(page.locator('[data-testid="error-2"]')).to_contain_text("pick up first")
    # ringing and caller ID appear without a reload, escaped
    sim.phones[2]["ringing"] = True
    sim.phones[2]["cadence"] = "2.0/4.0"
    sim.phones[2]["caller_id"] = {"number": "5551234", "name": XSS, "date": "11241317"}
    await expect(page.locator('[data-key="sim.2.ringing"]')).to_have_text("ringing")
    await expect(page.locator('[data-key="sim.2.cid.name"]')).to_have_text(XSS)
    await expect(page.locator('[data-key="sim.2.cid.number"]')).to_have_text("5551234")
    assert site.dialogs == []
    assert site.console_errors == []


async def test_post_without_csrf_token_is_403(site: Site) -> None:
    page = site.page
    await log_in(site)
    statuses = await page.evaluate(
        """async () => {
            const post = (headers) => fetch('/sim/1/hook', {method: 'POST', headers,
                body: new URLSearchParams({off_hook: '1'})}).then(r => r.status);
            const token = document.querySelector('meta[name="csrf-token"]').content;
            return [await post({}), await post({'X-CSRF-Token': 'forged'}),
                    await post({'X-CSRF-Token': token, 'Accept': 'application/json'})];
        }"""
    )
    assert statuses == [403, 403, 200]
    assert site.backend.sim is not None
    assert site.backend.sim.actions == [("hook", 1, True)]  # only the one with the token


async def test_hostile_caller_name_is_text_in_call_log(site: Site) -> None:
    page = site.page
    site.backend.calls.append(
        {
            "time": 1_795_000_000.0,
            "port": 1,
            "direction": "in",
            "number": "<img src=x onerror=alert(2)>",
            "name": XSS,
            "duration_s": 42.0,
            "result": "answered",
            "rtp": {
                "packets_sent": 2100,
                "packets_received": 2098,
                "lost": 2,
                "jitter_ms": 2.5,
                "concealed": 2,
            },
        }
    )
    await log_in(site)
    await page.click("nav >> text=Call log")
    name = page.locator("td.name")
    await expect(name).to_have_text(XSS)
    await expect(name).to_be_visible()
    await expect(page.get_by_text("<img src=x onerror=alert(2)>")).to_be_visible()
    assert await page.locator("td.name script").count() == 0
    assert await page.locator("table.calls img").count() == 0
    await page.wait_for_timeout(300)  # give a script time to fire
    assert site.dialogs == []


async def test_cross_site_form_post_is_refused(site: Site) -> None:
    """A page on another port of the same host (same *site*, so SameSite=Strict cookies do go
    along) auto-submits a form to the admin: refused, nothing changes."""
    page = site.page
    await log_in(site)
    target = site.url("/config")
    evil = web.Application()

    async def attack(_request: web.Request) -> web.Response:
        return web.Response(
            content_type="text/html",
            text=(
                f'<form id="f" method="post" action="{target}">'
                '<input name="device.name" value="pwned"><input name="csrf" value="guess">'
                "</form><script>document.getElementById('f').submit()</script>"
            ),
        )

    evil.router.add_get("/", attack)
    server = TestServer(evil, host="127.0.0.1")
    await server.start_server()
    try:
        async with page.expect_response(target) as answer:
            await page.goto(str(server.make_url("/")))
        response = await answer.value
        assert response.status == 403
        await expect(page.locator("body")).to_contain_text("refused")
    finally:
        await server.close()
    assert site.backend.applied == []
    assert site.backend.config.device.name == "bench-ata"
