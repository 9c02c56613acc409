"""The web admin over real HTTP (aiohttp test server on 127.0.0.1): first-use password, login and
lock-out, CSRF, config editing with full error reports, masked secrets, escaping, resync."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from provisioning.diff import ConfigDiff
from provisioning.passwords import hash_password, verify_password
from provisioning.schema import Config
from provisioning.status import Status, save_status
from provisioning.store import load_config, save_config
from provisioning.validate import config_from_data
from provisioning.web.app import MAX_FAILURES, SESSION_COOKIE, AdminContext, make_app

PASSWORD = "correct horse battery"
LINE_PASSWORD = "line-secret-991"


class Env:
    def __init__(self, tmp_path: Path) -> None:
        self.config = tmp_path / "config.toml"
        self.status = tmp_path / "status.json"
        self.applied: list[ConfigDiff] = []
        self.resyncs = 0
        self.clock = 1000.0

    def on_applied(self, _config: Config, diff: ConfigDiff) -> None:
        self.applied.append(diff)

    def resync(self) -> None:
        self.resyncs += 1


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


@pytest.fixture
async def client(env: Env) -> AsyncIterator[TestClient]:
    ctx = AdminContext(
        config_path=env.config,
        status_path=env.status,
        on_applied=env.on_applied,
        request_resync=env.resync,
        line_states=lambda: ["registered", "failed: 403 Forbidden"],
        clock=lambda: env.clock,
    )
    async with TestClient(TestServer(make_app(ctx), host="127.0.0.1")) as test_client:
        yield test_client


def provisioned(env: Env) -> None:
    config = config_from_data(
        {
            "lines": [
                {
                    "proxy": "pbx.lan",
                    "user": "10",
                    "password": LINE_PASSWORD,
                    "display_name": "<script>alert(1)</script>",
                },
                {"enabled": False},
            ],
            "admin": {"password_hash": hash_password(PASSWORD, n=1024)},
        }
    )
    save_config(config, env.config)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


async def login(client: TestClient, password: str = PASSWORD) -> str:
    response = await client.post("/login", data={"password": password}, allow_redirects=False)
    assert response.status == 303
    page = await client.get("/status")
    return csrf_of(await page.text())


async def test_first_use_requires_choosing_a_password(client: TestClient, env: Env) -> None:
    response = await client.get("/status", allow_redirects=False)
    assert (response.status, response.headers["Location"]) == (303, "/setup")
    short = await client.post("/setup", data={"password": "short", "confirm": "short"})
    assert short.status == 400
    assert "at least 8 characters" in await short.text()
    done = await client.post(
        "/setup", data={"password": PASSWORD, "confirm": PASSWORD}, allow_redirects=False
    )
    assert done.status == 303
    cookie = done.cookies[SESSION_COOKIE]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Strict"
    stored = load_config(env.config).admin.password_hash
    assert stored.startswith("scrypt$")
    assert verify_password(PASSWORD, stored)
    assert env.applied[0].paths == ("admin.password_hash",)
    # Once set, /setup cannot be used to replace it.
    again = await client.post(
        "/setup", data={"password": "another password", "confirm": "another password"},
        allow_redirects=False,
    )  # fmt: skip
    assert again.headers["Location"] == "/login"
    assert load_config(env.config).admin.password_hash == stored


async def test_login_lockout_after_failures(client: TestClient, env: Env) -> None:
    provisioned(env)
    for _ in range(MAX_FAILURES):
        bad = await client.post("/login", data={"password": "wrong"})
        assert bad.status == 401
    locked = await client.post("/login", data={"password": PASSWORD})
    assert locked.status == 429  # even the right password, while locked out
    env.clock += 61
    assert await login(client)


async def test_status_page_escapes_and_shows_states(client: TestClient, env: Env) -> None:
    provisioned(env)
    save_status(
        Status(outcome="error", stage="validate", reason="lines[0].user: <bad>"), env.status
    )
    await login(client)
    response = await client.get("/status")
    text = await response.text()
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "failed: 403 Forbidden" in text
    assert "lines[0].user: &lt;bad&gt;" in text
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert LINE_PASSWORD not in text


async def test_csrf_required_for_every_post(client: TestClient, env: Env) -> None:
    provisioned(env)
    token = await login(client)
    for path in ("/provision", "/config", "/logout"):
        response = await client.post(path, data={"csrf": "forged", "toml": ""})
        assert response.status == 403, path
    assert env.resyncs == 0
    ok = await client.post("/provision", data={"csrf": token}, allow_redirects=False)
    assert ok.status == 303
    assert env.resyncs == 1


async def test_config_editor_reports_all_errors_and_keeps_secrets(
    client: TestClient, env: Env
) -> None:
    provisioned(env)
    token = await login(client)
    page = await (await client.get("/config")).text()
    assert LINE_PASSWORD not in page
    assert "********" in page
    before = env.config.read_bytes()

    text = re.search(r"<textarea[^>]*>(.*)</textarea>", page, re.S)
    assert text
    toml = html.unescape(text.group(1))
    broken = toml.replace("expires = 3600", "expires = 5").replace(
        'country = "us"', 'countri = "us"'
    )
    response = await client.post("/config", data={"csrf": token, "toml": broken})
    body = await response.text()
    assert response.status == 400
    assert "lines[0].registration.expires: must be 60..86400, got 5" in body
    assert "device.countri: unknown key, did you mean &#x27;country&#x27;?" in body
    assert env.config.read_bytes() == before

    edited = toml.replace('display_name = "<script>alert(1)</script>"', 'display_name = "Hall"')
    response = await client.post("/config", data={"csrf": token, "toml": edited})
    assert response.status == 200
    assert "Saved. Changed: lines[0].display_name" in await response.text()
    stored = load_config(env.config)
    assert stored.lines[0].display_name == "Hall"
    assert stored.lines[0].password == LINE_PASSWORD  # the mask kept the secret
    assert verify_password(PASSWORD, stored.admin.password_hash)
    assert env.applied[-1].lines_changed == {0}


async def test_logout_ends_the_session(client: TestClient, env: Env) -> None:
    provisioned(env)
    token = await login(client)
    response = await client.post("/logout", data={"csrf": token}, allow_redirects=False)
    assert response.headers["Location"] == "/login"
    after = await client.get("/status", allow_redirects=False)
    assert after.headers["Location"] == "/login"


async def test_session_expires_when_idle(client: TestClient, env: Env) -> None:
    provisioned(env)
    await login(client)
    env.clock += 1801
    response = await client.get("/status", allow_redirects=False)
    assert response.headers["Location"] == "/login"


async def test_start_admin_serves_on_a_real_socket(env: Env) -> None:
    import aiohttp

    from provisioning.web.app import parse_listen, start_admin
    from tests.peers import free_port

    assert parse_listen("0.0.0.0:80") == ("0.0.0.0", 80)
    assert parse_listen("[::1]:8080") == ("::1", 8080)
    assert parse_listen("admin.lan") == ("admin.lan", 80)
    port = free_port()
    runner = await start_admin(AdminContext(env.config, env.status), f"127.0.0.1:{port}")
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/", allow_redirects=False) as response,
        ):
            assert response.status == 303
            assert response.headers["Location"] == "/setup"
    finally:
        await runner.cleanup()


async def test_broken_config_does_not_reopen_first_use_setup(client: TestClient, env: Env) -> None:
    provisioned(env)
    env.config.write_text("[admin]\npassword_hash = 5\n")  # corrupted
    for path in ("/", "/setup", "/login", "/status"):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 503, path
        assert "ata config check" in await response.text()
    response = await client.post(
        "/setup", data={"password": "attacker pass", "confirm": "attacker pass"}
    )
    assert response.status == 503
    assert env.config.read_text() == "[admin]\npassword_hash = 5\n"
