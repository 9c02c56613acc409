"""The web admin application (aiohttp): first-use password, login, status, config editor.

Theory of operation
-------------------
:func:`make_app` builds an ``aiohttp.web.Application`` around an :class:`AdminContext`, which
holds the config/status paths and the hooks into the daemon (apply a changed config, request a
resync, report line states). The daemon owns the listening socket (``admin.listen``).

- First use: while ``admin.password_hash`` is empty every page leads to ``/setup``, which sets
  the password (no default password, ETSI EN 303 645 5.1). The hash is stored in the config.
- Sessions: a random token in a cookie (``HttpOnly``, ``SameSite=Strict``, ``Secure`` over
  HTTPS), kept in memory with an idle timeout; each session has its own CSRF token, required in
  every POST form. Failed logins are counted per client address; after
  :data:`MAX_FAILURES` the address is locked out for :data:`LOCKOUT_S`.
- The config editor shows the TOML with secrets replaced by :data:`MASK`; a submitted secret
  still equal to the mask keeps the stored value. A submission is validated in full (every
  error with its path is shown, nothing is saved) or saved atomically, and the daemon's apply
  hook gets the :class:`~provisioning.diff.ConfigDiff`.
- Every dynamic value is HTML-escaped (:mod:`provisioning.web.html`); responses carry a strict
  Content-Security-Policy, ``X-Frame-Options: DENY`` and ``no-store`` caching.

scrypt verification costs ~0.1-1 s of CPU, so it runs in the loop's default executor thread to
keep the event loop (and with it the media path) responsive: that is the reason for the thread.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import inspect
import secrets
import tomllib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import msgspec
import tomli_w
from aiohttp import web

from provisioning.diff import ConfigDiff, diff_configs
from provisioning.passwords import hash_password, password_problem, verify_password
from provisioning.schema import Config, to_data
from provisioning.status import load_status
from provisioning.store import load_config, save_config
from provisioning.validate import ConfigValidationError, DialPlanParser, FieldError, validate_data
from provisioning.web.html import STYLE, Html, join, page, tag, void

MASK: Final = "********"
SECRET_KEYS: Final = frozenset({"password", "password_hash"})
SESSION_COOKIE: Final = "pi_ata_session"
SESSION_IDLE_S: Final = 1800.0
MAX_SESSIONS: Final = 32
MAX_FAILURES: Final = 5
LOCKOUT_S: Final = 60.0
MAX_FORM_BYTES: Final = 256 * 1024

_STYLE_HASH: Final = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
HEADERS: Final = {
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

ApplyHook = Callable[[Config, ConfigDiff], Awaitable[None] | None]


@dataclass
class AdminContext:
    config_path: Path
    status_path: Path
    on_applied: ApplyHook | None = None
    request_resync: Callable[[], None] | None = None
    line_states: Callable[[], list[str]] | None = None  # e.g. ["registered", "failed: 403"]
    clock: Callable[[], float] | None = None  # defaults to the loop's clock
    dial_plan_parser: DialPlanParser | None = None


@dataclass
class _Session:
    csrf: str
    expires: float


@dataclass
class _State:
    sessions: dict[str, _Session] = field(default_factory=dict)
    failures: dict[str, tuple[int, float]] = field(default_factory=dict)


CTX: Final = web.AppKey("ctx", AdminContext)
STATE: Final = web.AppKey("state", _State)


def _now(request: web.Request) -> float:
    ctx = request.app[CTX]
    return ctx.clock() if ctx.clock else asyncio.get_running_loop().time()


def _respond(body: Html, status: int = 200) -> web.Response:
    return web.Response(
        text=body, status=status, content_type="text/html", charset="utf-8", headers=HEADERS
    )


def _redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={**HEADERS, "Location": location})


def _session(request: web.Request) -> _Session | None:
    token = request.cookies.get(SESSION_COOKIE)
    state = request.app[STATE]
    if not token:
        return None
    session = state.sessions.get(token)
    now = _now(request)
    if session is None or session.expires < now:
        state.sessions.pop(token, None)
        return None
    session.expires = now + SESSION_IDLE_S
    return session


async def _form(request: web.Request) -> dict[str, str]:
    if request.content_length is not None and request.content_length > MAX_FORM_BYTES:
        raise web.HTTPRequestEntityTooLarge(
            max_size=MAX_FORM_BYTES, actual_size=request.content_length
        )
    data = await request.post()
    return {k: v for k, v in data.items() if isinstance(v, str)}


def _check_csrf(session: _Session, form: dict[str, str]) -> None:
    if not hmac.compare_digest(form.get("csrf", ""), session.csrf):
        raise web.HTTPForbidden(text="CSRF token missing or wrong", headers=HEADERS)


def _config(request: web.Request) -> Config:
    """The stored config. An invalid file is an error page, never a fallback to defaults
    (which would have an empty password hash and re-open the first-use setup to anyone)."""
    try:
        return load_config(request.app[CTX].config_path)
    except (ConfigValidationError, OSError):
        body = tag(
            "p",
            "The configuration file is invalid or unreadable. Fix it on the device: ",
            tag("code", "ata config check /etc/pi-ata/config.toml"),
            ".",
        )
        raise web.HTTPServiceUnavailable(
            text=page("Configuration error", body, nav=False),
            content_type="text/html",
            headers=HEADERS,
        ) from None


async def _apply(request: web.Request, old: Config, new: Config) -> ConfigDiff:
    ctx = request.app[CTX]
    diff = diff_configs(old, new)
    if not diff.empty:
        save_config(new, ctx.config_path)
        if ctx.on_applied is not None:
            pending = ctx.on_applied(new, diff)
            if inspect.isawaitable(pending):
                await pending
    return diff


def _require_login(request: web.Request) -> _Session:
    if not _config(request).admin.password_hash:
        raise web.HTTPSeeOther("/setup", headers=HEADERS)
    session = _session(request)
    if session is None:
        raise web.HTTPSeeOther("/login", headers=HEADERS)
    return session


def _start_session(request: web.Request, response: web.Response) -> None:
    state = request.app[STATE]
    now = _now(request)
    for token, old in list(state.sessions.items()):
        if old.expires < now:
            del state.sessions[token]
    while len(state.sessions) >= MAX_SESSIONS:
        state.sessions.pop(next(iter(state.sessions)))
    token = secrets.token_urlsafe(32)
    state.sessions[token] = _Session(secrets.token_urlsafe(32), now + SESSION_IDLE_S)
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="Strict", secure=request.secure, path="/"
    )


# -- pages -----------------------------------------------------------------------------------------
def _password_form(action: str, label: str, error: str | None, confirm: bool) -> Html:
    fields = [
        tag(
            "label",
            "Password ",
            void(
                "input",
                type="password",
                name="password",
                autocomplete="current-password",
                required=True,
            ),
        ),
    ]
    if confirm:
        fields.append(
            tag("label", " Repeat ", void("input", type="password", name="confirm", required=True))
        )
    return join(
        tag("p", error, class_="err") if error else "",
        tag("form", *fields, tag("button", label), method="post", action=action),
    )


async def setup_page(request: web.Request) -> web.Response:
    if _config(request).admin.password_hash:
        return _redirect("/login")
    error = None
    if request.method == "POST":
        form = await _form(request)
        password = form.get("password", "")
        error = password_problem(password)
        if error is None and password != form.get("confirm"):
            error = "the two passwords differ"
        if error is None:
            old = _config(request)
            loop = asyncio.get_running_loop()
            hashed = await loop.run_in_executor(None, hash_password, password)
            admin = msgspec.structs.replace(old.admin, password_hash=hashed)
            await _apply(request, old, msgspec.structs.replace(old, admin=admin))
            response = _redirect("/status")
            _start_session(request, response)
            return response
    body = join(
        tag("p", "This device has no admin password yet. Choose one (8 characters or more)."),
        _password_form("/setup", "Set password", f"Password {error}." if error else None, True),
    )
    return _respond(page("Set the admin password", body, nav=False), 400 if error else 200)


async def login_page(request: web.Request) -> web.Response:
    config = _config(request)
    if not config.admin.password_hash:
        return _redirect("/setup")
    error = None
    status = 200
    if request.method == "POST":
        state = request.app[STATE]
        peer = request.remote or "?"
        now = _now(request)
        count, until = state.failures.get(peer, (0, 0.0))
        form = await _form(request)
        if count >= MAX_FAILURES and now < until:
            error, status = f"Too many failed logins; try again in {int(until - now) + 1} s.", 429
        else:
            loop = asyncio.get_running_loop()
            ok = await loop.run_in_executor(
                None, verify_password, form.get("password", ""), config.admin.password_hash
            )
            if ok:
                state.failures.pop(peer, None)
                response = _redirect("/status")
                _start_session(request, response)
                return response
            count = 0 if count >= MAX_FAILURES else count  # an expired lock-out starts over
            count += 1
            state.failures[peer] = (count, now + LOCKOUT_S if count >= MAX_FAILURES else 0.0)
            if len(state.failures) > 1024:  # bounded: forget the oldest entry
                state.failures.pop(next(iter(state.failures)))
            error, status = "Wrong password.", 401
    body = _password_form("/login", "Log in", error, False)
    return _respond(page("Log in", body, nav=False), status)


async def logout(request: web.Request) -> web.Response:
    session = _require_login(request)
    _check_csrf(session, await _form(request))
    request.app[STATE].sessions.pop(request.cookies.get(SESSION_COOKIE, ""), None)
    response = _redirect("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


def _row(*cells: object) -> Html:
    return tag("tr", *(tag("td", c) for c in cells))


async def status_page(request: web.Request) -> web.Response:
    session = _require_login(request)
    ctx = request.app[CTX]
    config = _config(request)
    states = ctx.line_states() if ctx.line_states else []
    lines = [
        _row(
            index + 1,
            "enabled" if line.enabled else "disabled",
            f"{line.user}@{line.proxy}" if line.proxy else "built-in registrar",
            line.display_name,
            states[index] if index < len(states) else "-",
        )
        for index, line in enumerate(config.lines)
    ]
    prov = load_status(ctx.status_path)
    prov_rows = [
        _row("outcome", prov.outcome),
        _row("cause", prov.cause or "-"),
        _row("URL", prov.url or "-"),
        _row("failed stage", prov.stage or "-"),
        _row("reason", prov.reason or "-"),
        _row("changed", ", ".join(prov.changed) or "-"),
        _row("ignored", ", ".join(prov.ignored) or "-"),
    ]
    body = join(
        tag("h2", "Lines"),
        tag(
            "table",
            tag(
                "tr", *(tag("th", h) for h in ("port", "state", "account", "name", "registration"))
            ),
            *lines,
        ),
        tag("h2", "Provisioning"),
        tag("table", *prov_rows),
        tag(
            "form",
            void("input", type="hidden", name="csrf", value=session.csrf),
            tag("button", "Fetch profile now"),
            method="post",
            action="/provision",
        ),
    )
    return _respond(page(config.device.name, body, csrf=session.csrf))


async def provision_now(request: web.Request) -> web.Response:
    session = _require_login(request)
    _check_csrf(session, await _form(request))
    ctx = request.app[CTX]
    if ctx.request_resync is not None:
        ctx.request_resync()
    return _redirect("/status")


def _mask(value: object) -> object:
    if isinstance(value, dict):
        return {k: MASK if k in SECRET_KEYS and v else _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return value


def _unmask(new: object, old: object) -> object:
    """Put back stored secrets where the submission still shows the mask."""
    if isinstance(new, dict):
        old_dict = old if isinstance(old, dict) else {}
        return {
            k: (
                old_dict.get(k, "")
                if k in SECRET_KEYS and v == MASK
                else _unmask(v, old_dict.get(k))
            )
            for k, v in new.items()
        }
    if isinstance(new, list):
        old_list = old if isinstance(old, list) else []
        return [_unmask(v, old_list[i] if i < len(old_list) else None) for i, v in enumerate(new)]
    return new


def _editor(session: _Session, text: str, errors: list[FieldError], note: Html | None) -> Html:
    return join(
        note or "",
        tag("ul", *(tag("li", str(e)) for e in errors), class_="err") if errors else "",
        tag(
            "form",
            void("input", type="hidden", name="csrf", value=session.csrf),
            tag("textarea", text, name="toml", rows=40, spellcheck="false"),
            tag("button", "Validate and save"),
            method="post",
            action="/config",
        ),
        tag(
            "p",
            "Passwords are shown as ",
            MASK,
            "; leave them so to keep them. Reference: ",
            tag("code", "ata config schema"),
            ".",
        ),
    )


async def config_page(request: web.Request) -> web.Response:
    session = _require_login(request)
    old = _config(request)
    masked = tomli_w.dumps(_mask(to_data(old)))  # type: ignore[arg-type]
    if request.method == "GET":
        return _respond(
            page("Configuration", _editor(session, masked, [], None), csrf=session.csrf)
        )
    form = await _form(request)
    _check_csrf(session, form)
    text = form.get("toml", "")
    try:
        submitted = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        errors = [FieldError("", f"TOML syntax error: {exc}")]
        return _respond(
            page("Configuration", _editor(session, text, errors, None), csrf=session.csrf), 400
        )
    data = _unmask(copy.deepcopy(submitted), to_data(old))
    new, errors = validate_data(data, dial_plan_parser=request.app[CTX].dial_plan_parser)
    if new is None:
        return _respond(
            page("Configuration", _editor(session, text, errors, None), csrf=session.csrf), 400
        )
    diff = await _apply(request, old, new)
    note = tag("p", "Saved. Changed: " + (", ".join(diff.paths) or "nothing"), class_="ok")
    shown = tomli_w.dumps(_mask(to_data(new)))  # type: ignore[arg-type]
    return _respond(page("Configuration", _editor(session, shown, [], note), csrf=session.csrf))


async def index(request: web.Request) -> web.Response:
    _require_login(request)
    return _redirect("/status")


def make_app(ctx: AdminContext) -> web.Application:
    app = web.Application(client_max_size=MAX_FORM_BYTES)
    app[CTX] = ctx
    app[STATE] = _State()
    app.router.add_get("/", index)
    for path, handler in (("/setup", setup_page), ("/login", login_page), ("/config", config_page)):
        app.router.add_get(path, handler)
        app.router.add_post(path, handler)
    app.router.add_post("/logout", logout)
    app.router.add_get("/status", status_page)
    app.router.add_post("/provision", provision_now)
    return app


def parse_listen(listen: str) -> tuple[str, int]:
    """``host:port`` / ``[v6]:port`` / ``host`` (port 80) from ``admin.listen``."""
    host, port = listen, 80
    if listen.startswith("["):
        end = listen.index("]")
        host, rest = listen[1:end], listen[end + 1 :]
        port = int(rest[1:]) if rest.startswith(":") else 80
    elif ":" in listen:
        host, text = listen.rsplit(":", 1)
        port = int(text)
    return host, port


async def start_admin(ctx: AdminContext, listen: str) -> web.AppRunner:
    """Serve the web admin on ``listen`` (``admin.listen``); stop: ``await runner.cleanup()``."""
    runner = web.AppRunner(make_app(ctx), access_log=None)
    await runner.setup()
    host, port = parse_listen(listen)
    await web.TCPSite(runner, host, port).start()
    return runner
