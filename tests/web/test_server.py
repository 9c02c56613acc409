"""The web admin over real HTTP on 127.0.0.1 (aiohttp test server + client), against the fake
daemon: log-in and back-off, CSRF, escaping, the config form, password change, sim verbs."""

from __future__ import annotations

import html
import logging
import re

import msgspec
import pytest
from aiohttp.test_utils import TestClient, TestServer

from ata.log import redact
from provisioning.passwords import verify_password
from provisioning.validate import FieldError
from provisioning.web.server import LOGIN_COOKIE, SESSION_COOKIE, create_app
from tests.web.conftest import (
    LINE_PASSWORD,
    PASSWORD,
    XSS,
    Clock,
    field_value,
    login,
    make_config,
)
from tests.web.fake_backend import FakeBackend, replace_line


async def test_pages_need_a_session(client: TestClient) -> None:
    for path in ("/", "/config", "/calls", "/logs", "/sim", "/password"):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 303, path
        assert response.headers["Location"] == "/login"
    api = await client.get("/api/status")
    assert api.status == 401
    assert "lines" not in await api.text()


async def test_login_ok_sets_strict_httponly_cookie(client: TestClient) -> None:
    page = await (await client.get("/login")).text()
    response = await client.post(
        "/login",
        data={"login_token": field_value(page, "login_token"), "password": PASSWORD},
        allow_redirects=False,
    )
    assert response.status == 303
    cookie = response.cookies[SESSION_COOKIE]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/"
    assert not cookie["secure"]  # plain HTTP here; TLS sets Secure (request.secure)
    status = await client.get("/")
    assert status.status == 200
    assert "registered" in await status.text()


async def test_login_wrong_password_is_401_and_no_session(client: TestClient) -> None:
    page = await (await client.get("/login")).text()
    response = await client.post(
        "/login",
        data={"login_token": field_value(page, "login_token"), "password": "nope-nope"},
        allow_redirects=False,
    )
    assert response.status == 401
    assert "Wrong password" in await response.text()
    assert SESSION_COOKIE not in response.cookies
    assert (await client.get("/", allow_redirects=False)).status == 303


async def test_login_without_login_token_is_403(client: TestClient) -> None:
    response = await client.post("/login", data={"password": PASSWORD}, allow_redirects=False)
    assert response.status == 403
    await client.get("/login")  # sets the cookie
    response = await client.post(
        "/login", data={"login_token": "forged", "password": PASSWORD}, allow_redirects=False
    )
    assert response.status == 403
    assert client.session.cookie_jar.filter_cookies(client.make_url("/")).get(LOGIN_COOKIE)


async def test_rate_limit_backs_off_exponentially_per_address(
    client: TestClient, clock: Clock
) -> None:
    token = field_value(await (await client.get("/login")).text(), "login_token")

    async def attempt(password: str) -> int:
        response = await client.post(
            "/login", data={"login_token": token, "password": password}, allow_redirects=False
        )
        return response.status

    assert [await attempt("wrong-one") for _ in range(4)] == [401] * 4
    assert await attempt("wrong-one") == 401  # the 5th failure earns a 1 s lock-out
    locked = await client.post(
        "/login", data={"login_token": token, "password": PASSWORD}, allow_redirects=False
    )
    assert locked.status == 429  # even the right password is not tried while locked
    assert locked.headers["Retry-After"] == "1"
    clock.now += 1.01
    assert await attempt("wrong-one") == 401  # 6th failure: 2 s
    clock.now += 1.5
    assert await attempt(PASSWORD) == 429
    clock.now += 0.6
    assert await attempt("wrong-one") == 401  # 7th: 4 s
    clock.now += 3.9
    assert await attempt(PASSWORD) == 429
    clock.now += 0.2
    assert await attempt(PASSWORD) == 303  # success clears the address
    client.session.cookie_jar.clear()
    token = field_value(await (await client.get("/login")).text(), "login_token")
    assert [await attempt("wrong-again") for _ in range(4)] == [401] * 4
    assert await attempt(PASSWORD) == 303  # four fresh failures are still free


async def test_every_post_needs_the_csrf_token(client: TestClient, backend: FakeBackend) -> None:
    csrf = await login(client)
    before = backend.config
    cases = {
        "/config": {"device.name": "evil"},
        "/password": {"current": PASSWORD, "new": "x" * 12, "confirm": "x" * 12},
        "/logout": {},
        "/sim/1/hook": {"off_hook": "1"},
        "/sim/1/dial": {"digits": "5"},
        "/sim/1/flash": {},
    }
    for path, data in cases.items():
        missing = await client.post(path, data=data, allow_redirects=False)
        assert missing.status == 403, path
        wrong = await client.post(path, data={**data, "csrf": csrf[:-2] + "xx"})
        assert wrong.status == 403, path
    assert backend.config is before
    assert backend.sim is not None
    assert backend.sim.actions == []
    # and the header form works for script-driven posts
    ok = await client.post(
        "/sim/1/hook",
        data={"off_hook": "1"},
        headers={"X-CSRF-Token": csrf, "Accept": "application/json"},
    )
    assert ok.status == 200
    assert await ok.json() == {"ok": True}


async def test_cross_origin_post_refused_even_with_token(client: TestClient) -> None:
    csrf = await login(client)
    response = await client.post(
        "/sim/1/hook",
        data={"csrf": csrf, "off_hook": "1"},
        headers={"Origin": "http://evil.example"},
    )
    assert response.status == 403


async def test_security_headers_everywhere(client: TestClient) -> None:
    for path in ("/login", "/static/admin.js", "/nope"):
        response = await client.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    await login(client)
    status = await client.get("/")
    assert status.headers["Cache-Control"] == "no-store"
    page = await status.text()
    assert "<script>" not in page
    assert "style=" not in page
    assert '<script src="/static/admin.js" defer></script>' in page


async def test_sip_strings_are_escaped_everywhere(client: TestClient, backend: FakeBackend) -> None:
    backend.config = replace_line(backend.config, 0, display_name=XSS)
    backend.last_error[1] = '403 "<b>Forbidden</b>"'
    backend.calls.append(
        {
            "time": 1_795_000_000.0,
            "port": 1,
            "direction": "in",
            "number": "<img src=x onerror=alert(2)>",
            "name": XSS,
            "duration_s": 65.0,
            "result": "answered",
            "rtp": None,
        }
    )
    backend.logs.append("INVITE from " + XSS)
    await login(client)
    for path in ("/", "/config", "/calls", "/logs"):
        page = await (await client.get(path)).text()
        assert "<script>alert" not in page, path
        assert "<img src=x" not in page, path
        assert "<b>Forbidden" not in page, path
    calls = await (await client.get("/calls")).text()
    assert html.escape(XSS) in calls
    assert "&lt;img src=x onerror=alert(2)&gt;" in calls
    config = await (await client.get("/config")).text()
    assert f'value="{html.escape(XSS)}"' in config
    api = await (await client.get("/api/status")).json()
    assert api["display"]["lines.1.registration.detail"] == 'last error: 403 "<b>Forbidden</b>"'


async def test_status_page_and_api(client: TestClient, backend: FakeBackend) -> None:
    backend.registration[2] = "failed"
    backend.last_error[2] = "403 Forbidden"
    await login(client)
    page = await (await client.get("/")).text()
    assert 'data-key="lines.1.registration.state" class="badge" data-state="registered"' in page
    assert "expires in 3600 s" in page
    assert "last error: 403 Forbidden" in page
    assert "1:02:05" in page  # uptime 3725 s
    api = await client.get("/api/status")
    data = await api.json()
    assert api.headers["Cache-Control"] == "no-store"
    assert [line["port"] for line in data["status"]["lines"]] == [1, 2]
    assert data["display"]["lines.2.registration.state"] == "failed"
    assert data["display"]["provisioning.state"] == "applied"


async def test_config_form_never_renders_the_password(client: TestClient) -> None:
    await login(client)
    page = await (await client.get("/config")).text()
    assert LINE_PASSWORD not in page
    assert 'name="lines[0].password" value=""' in page
    assert "scrypt$" not in page  # nor the admin hash
    assert 'value="pbx.example.net"' in page


async def test_config_apply_ok(client: TestClient, backend: FakeBackend) -> None:
    csrf = await login(client)
    page = await (await client.get("/config")).text()
    form = _form_of(page)
    form.update(
        {
            "csrf": csrf,
            "lines[0].user": "2002",
            "lines[0].registration.expires": "600",
            "device.country": "gb",
            "lines[0].password": "",  # empty: keep the stored one
        }
    )
    response = await client.post("/config", data=form)
    text = await response.text()
    assert response.status == 200, text
    assert "Saved and applied" in text
    assert "lines[0].user" in text
    assert "device.country" in text
    assert len(backend.applied) == 1
    new = backend.config
    assert new.lines[0].user == "2002"
    assert new.lines[0].registration.expires == 600
    assert new.device.country == "gb"
    assert new.lines[0].password == LINE_PASSWORD  # kept
    assert new.lines[0].dtmf_mode == "rfc4733"  # fields outside the form untouched
    assert not new.lines[1].enabled  # unchecked box stays unchecked
    # status reflects the applied config
    status = await (await client.get("/")).text()
    assert "2002" in status


async def test_config_password_set_and_clear(client: TestClient, backend: FakeBackend) -> None:
    csrf = await login(client)
    form = _form_of(await (await client.get("/config")).text())
    form.update({"csrf": csrf, "lines[0].password": "brand-new-secret"})
    text = await (await client.post("/config", data=form)).text()
    assert backend.config.lines[0].password == "brand-new-secret"
    assert "brand-new-secret" not in text
    assert "lines[0].password (changed)" in text
    form = _form_of(text)
    form.update({"csrf": csrf, "lines[0].password_clear": "on"})
    await client.post("/config", data=form)
    assert backend.config.lines[0].password == ""


async def test_config_errors_shown_in_place_and_nothing_saved(
    client: TestClient, backend: FakeBackend
) -> None:
    csrf = await login(client)
    form = _form_of(await (await client.get("/config")).text())
    form.update(
        {
            "csrf": csrf,
            "lines[0].registration.expires": "5",
            "lines[0].proxy": "bad host name!",
            "lines[1].registration.expires": "abc",
            "device.country": "xx",
        }
    )
    before = backend.config
    response = await client.post("/config", data=form)
    page = await response.text()
    assert response.status == 400
    assert backend.config is before
    assert backend.applied == []
    errors = _errors_by_field(page)
    assert errors["lines[0].registration.expires"] == "must be 60..86400, got 5"
    assert "must be an integer" in errors["lines[1].registration.expires"]
    assert "lines[0].proxy" in errors
    assert "must be one of" in errors["device.country"]
    # the submitted (bad) values stay in the form for correction
    assert 'name="lines[0].registration.expires" aria-invalid="true"' in page
    assert re.search(r'name="lines\[1\]\.registration\.expires"[^>]*value="abc"', page)


async def test_backend_refusal_shown(client: TestClient, backend: FakeBackend) -> None:
    csrf = await login(client)
    backend.refuse_next = [
        FieldError("lines[0].dial_plan", "unbalanced parenthesis"),
        FieldError("network.local_port", "port 5060 is in use"),
    ]
    form = _form_of(await (await client.get("/config")).text())
    form["csrf"] = csrf
    page = await (await client.post("/config", data=form)).text()
    assert _errors_by_field(page)["lines[0].dial_plan"] == "unbalanced parenthesis"
    assert "network.local_port: port 5060 is in use" in page  # not in the form: summary


def _session_cookie(client: TestClient) -> str:
    cookies = client.session.cookie_jar.filter_cookies(client.make_url("/"))
    return cookies[SESSION_COOKIE].value


def _use_session(client: TestClient, token: str) -> None:
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: token}, client.make_url("/"))


async def test_password_change(client: TestClient, backend: FakeBackend) -> None:
    await login(client)  # a first browser...
    other = _session_cookie(client)
    client.session.cookie_jar.clear()
    csrf = await login(client)  # ...and this one
    mine = _session_cookie(client)
    bad = await client.post(
        "/password",
        data={"csrf": csrf, "current": "wrong", "new": "n" * 10, "confirm": "n" * 10},
    )
    assert bad.status == 400
    assert "current password is wrong" in await bad.text()
    short = await client.post(
        "/password", data={"csrf": csrf, "current": PASSWORD, "new": "short", "confirm": "short"}
    )
    assert short.status == 400
    assert "at least 8" in await short.text()
    differ = await client.post(
        "/password",
        data={"csrf": csrf, "current": PASSWORD, "new": "n" * 10, "confirm": "m" * 10},
    )
    assert differ.status == 400
    assert verify_password(PASSWORD, backend.config.admin.password_hash)
    new = "a much better passphrase"
    ok = await client.post(
        "/password", data={"csrf": csrf, "current": PASSWORD, "new": new, "confirm": new}
    )
    assert ok.status == 200
    assert "Password changed" in await ok.text()
    stored = backend.config.admin.password_hash
    assert stored.startswith("scrypt$")
    assert new not in stored
    assert verify_password(new, stored)
    assert (await client.get("/", allow_redirects=False)).status == 200  # still logged in
    _use_session(client, other)
    assert (await client.get("/", allow_redirects=False)).status == 303  # logged out
    _use_session(client, mine)
    await client.post("/logout", data={"csrf": csrf})
    assert (await client.get("/", allow_redirects=False)).status == 303
    client.session.cookie_jar.clear()
    await login(client, new)


async def test_first_start_generates_and_announces_a_password() -> None:
    backend = FakeBackend(make_config(password=""))
    announced: list[str] = []
    app = create_app(backend, announce=announced.append)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        assert len(announced) == 1
        password = announced[0]
        assert re.fullmatch(r"[a-z2-9]{4}(-[a-z2-9]{4}){3}", password)
        stored = backend.config.admin.password_hash
        assert stored.startswith("scrypt$")
        assert password not in stored
        await login(client, password)
    # the next start finds the hash and announces nothing
    again: list[str] = []
    async with TestClient(TestServer(create_app(backend, announce=again.append))):
        assert again == []
    assert backend.config.admin.password_hash == stored


async def test_generated_passwords_differ_per_device() -> None:
    seen = set()
    for _ in range(3):
        backend = FakeBackend(make_config(password=""))
        announced: list[str] = []
        async with TestClient(TestServer(create_app(backend, announce=announced.append))):
            seen.add(announced[0])
    assert len(seen) == 3


async def test_sim_verbs_reach_the_backend(client: TestClient, backend: FakeBackend) -> None:
    csrf = await login(client)
    assert backend.sim is not None
    page = await (await client.get("/sim")).text()
    assert 'data-testid="key-1-5"' in page
    assert 'data-testid="key-2-#"' in page
    await client.post("/sim/1/hook", data={"csrf": csrf, "off_hook": "1"})
    await client.post("/sim/1/dial", data={"csrf": csrf, "digits": "5", "mode": "dtmf"})
    await client.post("/sim/1/dial", data={"csrf": csrf, "digits": "42", "mode": "pulse"})
    await client.post("/sim/2/flash", data={"csrf": csrf})
    assert backend.sim.actions == [
        ("hook", 1, True),
        ("dial", 1, "5", "dtmf"),
        ("dial", 1, "42", "pulse"),
        ("flash", 2),
    ]
    refused = await client.post(
        "/sim/2/dial",
        data={"csrf": csrf, "digits": "1"},
        headers={"Accept": "application/json"},
    )
    assert refused.status == 400
    assert "pick up first" in (await refused.json())["error"]
    for digits, mode in (("12a", "dtmf"), ("*", "pulse"), ("1" * 33, "dtmf"), ("1", "x")):
        bad = await client.post("/sim/1/dial", data={"csrf": csrf, "digits": digits, "mode": mode})
        assert bad.status == 400, (digits, mode)
    unknown = await client.post("/sim/9/flash", data={"csrf": csrf})
    assert unknown.status == 400
    assert len(backend.sim.actions) == 4
    state = await (await client.get("/api/sim")).json()
    assert state["display"]["sim.1.hook"] == "off hook"
    assert state["phones"]["1"]["off_hook"] is True


async def test_no_sim_pages_on_real_hardware(clock: Clock) -> None:
    backend = FakeBackend(make_config(), simulated=False)
    async with TestClient(TestServer(create_app(backend, clock=clock), host="127.0.0.1")) as c:
        csrf = await login(c)
        assert "/sim" not in await (await c.get("/")).text()
        assert (await c.get("/sim")).status == 404
        assert (await c.post("/sim/1/flash", data={"csrf": csrf})).status == 404


async def test_session_idle_timeout(client: TestClient, clock: Clock) -> None:
    await login(client)
    clock.now += 1799
    assert (await client.get("/", allow_redirects=False)).status == 200
    clock.now += 1801
    assert (await client.get("/", allow_redirects=False)).status == 303


async def test_oversized_body_refused(client: TestClient) -> None:
    csrf = await login(client)
    response = await client.post("/config", data={"csrf": csrf, "device.name": "x" * 100_000})
    assert response.status == 413


def _form_of(page: str) -> dict[str, str]:
    """The config form's current values, as a browser would submit them."""
    form: dict[str, str] = {}
    for match in re.finditer(r"<input ([^>]*)>", page):
        attrs = dict(re.findall(r'(\w[\w-]*)="([^"]*)"', match.group(1)))
        name = attrs.get("name")
        if not name or name == "csrf":
            continue
        if attrs.get("type") == "checkbox":
            if re.search(r"\bchecked\b", match.group(1)):
                form[name] = "on"
        else:
            form[name] = html.unescape(attrs.get("value", ""))
    for match in re.finditer(r'<select [^>]*name="([^"]+)"[^>]*>(.*?)</select>', page, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', match.group(2))
        if chosen:
            form[match.group(1)] = chosen.group(1)
    return form


def _errors_by_field(page: str) -> dict[str, str]:
    out = {}
    for match in re.finditer(
        r'name="([^"]+)"[^>]*>(?:(?!<div class="field).)*?<span class="field-error"[^>]*>([^<]*)<',
        page,
        re.S,
    ):
        out[match.group(1)] = html.unescape(match.group(2))
    return out


def test_make_config_is_valid() -> None:
    config = make_config()
    assert msgspec.to_builtins(config)["lines"][0]["user"] == "1001"


async def test_password_set_by_provisioning_ends_sessions(
    client: TestClient, backend: FakeBackend
) -> None:
    await login(client)
    assert (await client.get("/", allow_redirects=False)).status == 200
    provisioned = make_config(password="set by the ITSP profile")
    backend.config = msgspec.structs.replace(backend.config, admin=provisioned.admin)
    assert (await client.get("/", allow_redirects=False)).status == 303
    client.session.cookie_jar.clear()
    await login(client, "set by the ITSP profile")


async def test_login_refused_while_no_password_exists() -> None:
    backend = FakeBackend(make_config(password=""))
    backend.refuse_next = [FieldError("admin.password_hash", "read-only file system")]
    announced: list[str] = []
    app = create_app(backend, announce=announced.append)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        assert announced == []  # nothing stored, so nothing announced
        page = await (await client.get("/login")).text()
        response = await client.post(
            "/login",
            data={"login_token": field_value(page, "login_token"), "password": ""},
            allow_redirects=False,
        )
        assert response.status == 503
        assert "No admin password is set yet" in await response.text()


async def test_default_announcement_reaches_console_and_log_once(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    backend = FakeBackend(make_config(password=""))
    with caplog.at_level(logging.WARNING, logger="provisioning.web"):
        async with TestClient(TestServer(create_app(backend), host="127.0.0.1")) as client:
            console = capsys.readouterr().err
            match = re.search(r"-> ([a-z2-9-]{19})$", console.strip())
            assert match, console
            password = match.group(1)
            logged = [r.getMessage() for r in caplog.records if password in r.getMessage()]
            assert len(logged) == 1
            # the project's redaction keeps it: this is the one documented exception
            assert password in redact(logged[0])
            await login(client, password)
    # later log-ins, failures and changes never log it again
    assert sum(password in r.getMessage() for r in caplog.records) == 1
