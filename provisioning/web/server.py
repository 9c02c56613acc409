"""The web admin application (aiohttp): status, configuration, call log, logs, virtual phones.

Theory of operation
-------------------
:func:`create_app` wraps an :class:`~provisioning.web.backend.AdminBackend` (the daemon) in an
``aiohttp.web.Application``; the daemon serves it with :func:`serve` (or mounts it in its own
runner). Pages are rendered on the server with escaping templates (:mod:`.pages`); a small
static script (``admin.js``) refreshes live values from ``/api/status`` and ``/api/sim`` and
submits the virtual-phone buttons with ``fetch``. Without script every page still works.

Security (facts/sip-limits.md, ETSI EN 303 645, OWASP):

- authentication and sessions: :mod:`.auth` (first-start password, scrypt hash in
  ``admin.password_hash``, sessions, per-address back-off);
- every POST needs the session's CSRF token (form field ``csrf`` or header ``X-CSRF-Token``),
  else 403; a POST whose ``Origin``/``Sec-Fetch-Site`` says another site is refused too;
- every response carries a Content-Security-Policy without inline script or style, frame
  denial, ``nosniff``, ``no-referrer``, and ``Cache-Control: no-store`` (static files:
  ``no-cache``);
- :func:`serve` listens on ``127.0.0.1`` unless told otherwise.

scrypt costs ~0.1-1 s of CPU and 16 MiB, so hashing runs in a short-lived child interpreter
(:func:`provisioning.passwords.verify_password_async`): the event loop also drives signalling,
and the daemon's heap stays small; one verification at a time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Final

import msgspec
from aiohttp import web

from provisioning.diff import diff_configs
from provisioning.passwords import hash_password_async, password_problem, verify_password_async
from provisioning.validate import DialPlanParser, validate_data
from provisioning.web import pages
from provisioning.web.auth import LoginLimiter, Session, Sessions, tokens_equal
from provisioning.web.backend import AdminBackend, BackendError, PhoneState
from provisioning.web.first_start import Announce, announce_on_console, ensure_admin_password
from provisioning.web.forms import form_to_data, form_values
from provisioning.web.markup import Markup
from provisioning.web.ondemand import parse_listen

_LOG = logging.getLogger("provisioning.web")

SESSION_COOKIE: Final = "pi_ata_session"
LOGIN_COOKIE: Final = "pi_ata_login"
CSRF_HEADER: Final = "X-CSRF-Token"
MAX_BODY: Final = 64 * 1024
CALL_LOG_LIMIT: Final = 100
LOG_LIMIT: Final = 200
DIGITS_RE: Final = re.compile(r"^[0-9*#]{1,32}$")
STATIC_FILES: Final = {"admin.js": "text/javascript", "admin.css": "text/css"}
DEFAULT_LISTEN: Final = "127.0.0.1:8080"

CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # not "no-referrer": with it Chromium sends "Origin: null" on same-origin form posts
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


@dataclass
class AdminState:
    backend: AdminBackend
    clock: Callable[[], float]
    announce: Announce
    dial_plan_parser: DialPlanParser | None
    status_refresh_ms: int
    sim_refresh_ms: int
    sessions: Sessions = field(default_factory=Sessions)
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    static: dict[str, bytes] = field(default_factory=dict)
    verify_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


STATE: Final = web.AppKey("pi_ata_admin", AdminState)


# -- helpers ---------------------------------------------------------------------------------------
def _state(request: web.Request) -> AdminState:
    return request.app[STATE]


def _html(body: Markup, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


def _page(
    request: web.Request,
    *,
    title: str,
    page: str,
    body: Markup,
    session: Session | None,
    status: int = 200,
) -> web.Response:
    state = _state(request)
    return _html(
        pages.layout(
            title=title,
            page=page,
            body=body,
            device=state.backend.current_config().device.name,
            csrf=session.csrf if session else None,
            sim=state.backend.sim is not None,
        ),
        status,
    )


def _wants_json(request: web.Request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _current_session(request: web.Request) -> Session | None:
    state = _state(request)
    credential = state.backend.current_config().admin.password_hash
    return state.sessions.get(request.cookies.get(SESSION_COOKIE), state.clock(), credential)


def _require_session(request: web.Request) -> Session:
    session = _current_session(request)
    if session is None:
        if request.path.startswith("/api/") or _wants_json(request):
            raise web.HTTPUnauthorized(
                text='{"error": "not logged in"}', content_type="application/json"
            )
        raise web.HTTPSeeOther("/login")
    return session


async def _form(request: web.Request) -> dict[str, str]:
    data = await request.post()
    return {k: v for k, v in data.items() if isinstance(v, str)}


async def _authorized_form(request: web.Request) -> tuple[Session, dict[str, str]]:
    """Session + form of a state-changing request; 403 when the CSRF token is missing/wrong."""
    session = _require_session(request)
    form = await _form(request)
    token = form.get("csrf") or request.headers.get(CSRF_HEADER)
    if not tokens_equal(token, session.csrf):
        raise web.HTTPForbidden(text="CSRF token missing or wrong")
    return session, form


def _peer(request: web.Request) -> str:
    return request.remote or "unknown"


def _set_cookie(request: web.Request, response: web.Response, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="Strict",
        secure=request.secure,
        path="/",
    )


async def _hash(password: str) -> str:
    return await hash_password_async(password)


async def _verify(state: AdminState, password: str, stored: str) -> bool:
    async with state.verify_lock:  # one scrypt at a time: bounded CPU and memory
        return await verify_password_async(password, stored)


# -- middleware and signals ----------------------------------------------------------------------
@web.middleware
async def _same_origin_posts(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Refuse a POST that the browser says comes from another site (belt to CSRF's braces)."""
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"{request.scheme}://{request.host}":
            raise web.HTTPForbidden(text="cross-origin request refused")
        if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            raise web.HTTPForbidden(text="cross-site request refused")
    return await handler(request)


async def _add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)
    static = request.path.startswith("/static/") and response.status == 200
    response.headers["Cache-Control"] = "no-cache" if static else "no-store"


async def _ensure_password(app: web.Application) -> None:
    """First start: no admin password yet, so make one, store its hash, announce it once."""
    state = app[STATE]
    await ensure_admin_password(state.backend, state.announce)


# -- authentication pages ------------------------------------------------------------------------
async def login_get(request: web.Request) -> web.Response:
    if _current_session(request) is not None:
        raise web.HTTPSeeOther("/")
    token = secrets.token_urlsafe(24)
    response = _page(
        request,
        title="Log in",
        page="login",
        body=pages.login_body(token=token, error=None),
        session=None,
    )
    _set_cookie(request, response, LOGIN_COOKIE, token)
    return response


async def login_post(request: web.Request) -> web.Response:
    state = _state(request)
    form = await _form(request)
    token = request.cookies.get(LOGIN_COOKIE)
    if not token or not tokens_equal(form.get("login_token"), token):
        raise web.HTTPForbidden(text="login token missing or wrong; reload the login page")

    def again(error: str, status: int) -> web.Response:
        body = pages.login_body(token=token, error=error)
        return _page(request, title="Log in", page="login", body=body, session=None, status=status)

    peer = _peer(request)
    wait = state.limiter.retry_after(peer, state.clock())
    if wait > 0:
        seconds = math.ceil(wait)
        response = again(f"Too many failed log-ins: try again in {seconds} s.", 429)
        response.headers["Retry-After"] = str(seconds)
        return response
    stored = state.backend.current_config().admin.password_hash
    if not stored:
        return again("No admin password is set yet: see the device's console or log.", 503)
    if not await _verify(state, form.get("password", ""), stored):
        delay = state.limiter.failure(peer, state.clock())
        _LOG.warning("web admin: failed log-in from %s", peer)
        suffix = f" Wait {math.ceil(delay)} s before the next try." if delay else ""
        return again("Wrong password." + suffix, 401)
    state.limiter.success(peer)
    session_token, _session = state.sessions.create(state.clock(), stored)
    _LOG.info("web admin: log-in from %s", peer)
    response = web.Response(status=303, headers={"Location": "/"})
    _set_cookie(request, response, SESSION_COOKIE, session_token)
    response.del_cookie(LOGIN_COOKIE, path="/")
    return response


async def logout(request: web.Request) -> web.Response:
    await _authorized_form(request)
    _state(request).sessions.end(request.cookies.get(SESSION_COOKIE))
    response = web.Response(status=303, headers={"Location": "/login"})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def password_page(request: web.Request) -> web.Response:
    state = _state(request)
    if request.method == "GET":
        session = _require_session(request)
        body = pages.password_body(csrf=session.csrf, error=None, done=False)
        return _page(request, title="Admin password", page="password", body=body, session=session)
    session, form = await _authorized_form(request)

    def answer(error: str | None, status: int) -> web.Response:
        body = pages.password_body(csrf=session.csrf, error=error, done=error is None)
        return _page(
            request,
            title="Admin password",
            page="password",
            body=body,
            session=session,
            status=status,
        )

    peer = _peer(request)
    if state.limiter.retry_after(peer, state.clock()) > 0:
        return answer("Too many wrong passwords: wait and try again.", 429)
    config = state.backend.current_config()
    if not await _verify(state, form.get("current", ""), config.admin.password_hash):
        state.limiter.failure(peer, state.clock())
        return answer("The current password is wrong.", 400)
    new = form.get("new", "")
    problem = password_problem(new)
    if problem is not None:
        return answer(f"The new password {problem}.", 400)
    if new != form.get("confirm", ""):
        return answer("The two new passwords differ.", 400)
    hashed = await _hash(new)
    admin = msgspec.structs.replace(config.admin, password_hash=hashed)
    errors = await state.backend.apply_config(msgspec.structs.replace(config, admin=admin))
    if errors:
        return answer("Not saved: " + "; ".join(str(e) for e in errors), 500)
    session.credential = hashed  # this session stays; the others end
    state.sessions.end_all_except(request.cookies.get(SESSION_COOKIE))
    _LOG.info("web admin: admin password changed from %s", peer)
    return answer(None, 200)


# -- status ---------------------------------------------------------------------------------------
async def status_page(request: web.Request) -> web.Response:
    session = _require_session(request)
    state = _state(request)
    body = pages.status_body(state.backend.status(), state.status_refresh_ms)
    return _page(request, title="Status", page="status", body=body, session=session)


async def status_api(request: web.Request) -> web.Response:
    _require_session(request)
    status = _state(request).backend.status()
    return web.json_response(
        {"status": status, "display": pages.status_display(status)}, dumps=json.dumps
    )


# -- configuration ---------------------------------------------------------------------------------
async def config_page(request: web.Request) -> web.Response:
    state = _state(request)
    current = state.backend.current_config()
    if request.method == "GET":
        session = _require_session(request)
        data = msgspec.to_builtins(current)
        body = pages.config_body(
            csrf=session.csrf,
            n_lines=len(current.lines),
            values=form_values(data),
            errors=[],
            saved=None,
        )
        return _page(request, title="Configuration", page="config", body=body, session=session)
    session, form = await _authorized_form(request)
    data = form_to_data(form, current)
    new, errors = validate_data(data, dial_plan_parser=state.dial_plan_parser)
    if new is not None:
        errors = await state.backend.apply_config(new)
    saved: list[str] | None = None
    if new is not None and not errors:
        saved = list(diff_configs(current, new).paths)
        saved = [p for p in saved if not p.endswith("password")] + [
            p.rsplit(".", 1)[0] + ".password (changed)" for p in saved if p.endswith("password")
        ]
        shown = state.backend.current_config()
        values = form_values(msgspec.to_builtins(shown))
        _LOG.info("web admin: configuration changed from %s: %s", _peer(request), saved)
    else:
        values = form_values(data)
    body = pages.config_body(
        csrf=session.csrf,
        n_lines=len(current.lines),
        values=values,
        errors=errors,
        saved=saved,
    )
    return _page(
        request,
        title="Configuration",
        page="config",
        body=body,
        session=session,
        status=400 if errors else 200,
    )


# -- call log and logs -----------------------------------------------------------------------------
async def calls_page(request: web.Request) -> web.Response:
    session = _require_session(request)
    calls = _state(request).backend.call_log(CALL_LOG_LIMIT)
    body = pages.calls_body(calls)
    return _page(request, title="Call log", page="calls", body=body, session=session)


async def logs_page(request: web.Request) -> web.Response:
    session = _require_session(request)
    body = pages.logs_body(_state(request).backend.recent_logs(LOG_LIMIT))
    return _page(request, title="Logs", page="logs", body=body, session=session)


# -- virtual phones ------------------------------------------------------------------------------
def _phones(state: AdminState) -> dict[int, PhoneState]:
    sim = state.backend.sim
    if sim is None:
        raise web.HTTPNotFound(text="the board is not simulated")
    return {line["port"]: sim.phone(line["port"]) for line in state.backend.status()["lines"]}


async def sim_page(request: web.Request) -> web.Response:
    session = _require_session(request)
    state = _state(request)
    body = pages.sim_body(csrf=session.csrf, phones=_phones(state), refresh_ms=state.sim_refresh_ms)
    return _page(request, title="Virtual phones", page="sim", body=body, session=session)


async def sim_api(request: web.Request) -> web.Response:
    _require_session(request)
    phones = _phones(_state(request))
    display: dict[str, str] = {}
    for port, phone in phones.items():
        display.update(pages.sim_display(port, phone))
    return web.json_response(
        {"phones": {str(p): s for p, s in phones.items()}, "display": display}, dumps=json.dumps
    )


async def sim_action(request: web.Request) -> web.Response:
    _session, form = await _authorized_form(request)
    state = _state(request)
    sim = state.backend.sim
    if sim is None:
        raise web.HTTPNotFound(text="the board is not simulated")
    port = int(request.match_info["port"])
    action = request.match_info["action"]
    error: str | None = None
    try:
        if action == "hook":
            await sim.hook(port, form.get("off_hook") == "1")
        elif action == "flash":
            await sim.flash(port)
        else:
            digits = form.get("digits", "")
            mode = form.get("mode", "dtmf")
            if mode not in ("dtmf", "pulse"):
                error = "mode must be dtmf or pulse"
            elif not DIGITS_RE.match(digits) or (mode == "pulse" and not digits.isdigit()):
                error = "digits must be 0-9, * or # (pulse: 0-9 only), at most 32"
            else:
                await sim.dial(port, digits, "pulse" if mode == "pulse" else "dtmf")
    except BackendError as exc:
        error = str(exc)
    if _wants_json(request):
        if error:
            return web.json_response({"ok": False, "error": error}, status=400)
        return web.json_response({"ok": True})
    if error:
        body = pages.error_body(error)
        return _page(
            request, title="Virtual phones", page="sim", body=body, session=_session, status=400
        )
    raise web.HTTPSeeOther("/sim")


# -- static files ----------------------------------------------------------------------------------
async def static_file(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    content = _state(request).static.get(name)
    if content is None:
        raise web.HTTPNotFound()
    return web.Response(body=content, content_type=STATIC_FILES[name], charset="utf-8")


async def _no_icon(_request: web.Request) -> web.Response:
    return web.Response(status=204)


def _load_static() -> dict[str, bytes]:
    folder = resources.files("provisioning.web")
    return {name: (folder / name).read_bytes() for name in STATIC_FILES}


# -- the application -------------------------------------------------------------------------------
def create_app(
    backend: AdminBackend,
    *,
    clock: Callable[[], float] | None = None,
    announce: Announce | None = None,
    dial_plan_parser: DialPlanParser | None = None,
    status_refresh_s: float = 2.0,
    sim_refresh_s: float = 0.5,
    limiter: LoginLimiter | None = None,
) -> web.Application:
    """The web admin for ``backend``.

    ``clock``: monotonic seconds for sessions and back-off (default ``time.monotonic``).
    ``announce``: receives a password generated at first start (default: console + log).
    ``dial_plan_parser``: full dial-plan grammar check (e.g. ``ata.line.dialplan``'s parser).
    On start-up (``app.on_startup``) an empty ``admin.password_hash`` gets a generated password.
    """
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_same_origin_posts])
    app[STATE] = AdminState(
        backend=backend,
        clock=clock or time.monotonic,
        announce=announce or announce_on_console,
        dial_plan_parser=dial_plan_parser,
        status_refresh_ms=int(status_refresh_s * 1000),
        sim_refresh_ms=int(sim_refresh_s * 1000),
        limiter=limiter or LoginLimiter(),
        static=_load_static(),
    )
    app.on_response_prepare.append(_add_security_headers)
    app.on_startup.append(_ensure_password)
    r = app.router
    r.add_get("/login", login_get)
    r.add_post("/login", login_post)
    r.add_post("/logout", logout)
    r.add_get("/", status_page)
    r.add_get("/api/status", status_api)
    r.add_get("/config", config_page)
    r.add_post("/config", config_page)
    r.add_get("/password", password_page)
    r.add_post("/password", password_page)
    r.add_get("/calls", calls_page)
    r.add_get("/logs", logs_page)
    r.add_get("/sim", sim_page)
    r.add_get("/api/sim", sim_api)
    r.add_post(r"/sim/{port:\d{1,2}}/{action:hook|flash|dial}", sim_action)
    r.add_get(r"/static/{name}", static_file)
    r.add_get("/favicon.ico", _no_icon)
    return app


async def serve(
    backend: AdminBackend,
    listen: str = DEFAULT_LISTEN,
    *,
    ssl_context: object | None = None,
    **options: object,
) -> web.AppRunner:
    """Start the web admin on ``listen`` (default loopback only); stop with
    ``await runner.cleanup()``. ``options`` go to :func:`create_app`."""
    app = create_app(backend, **options)  # type: ignore[arg-type]
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    host, port = parse_listen(listen)
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)  # type: ignore[arg-type]
    await site.start()
    return runner
