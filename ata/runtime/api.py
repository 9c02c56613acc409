"""The daemon's local HTTP JSON API (aiohttp; 127.0.0.1 by default).

Endpoints (all JSON unless noted):

- ``GET /api/status`` — version, uptime, board, per-line status (registration, hook, call
  state, dialled digits, tone, current call's RTP statistics).
- ``GET /api/lines/{port}`` — one line (ports are numbered from 1, as on the device label).
- Simulated board only (404 otherwise), the virtual phone on a port:
  - ``POST /api/sim/{port}/hook`` ``{"off_hook": true}``
  - ``POST /api/sim/{port}/flash`` ``{"ms": 300}``
  - ``POST /api/sim/{port}/dial`` ``{"digits": "1234", "mode": "dtmf"|"pulse", "pps": 10}``
  - ``POST /api/sim/{port}/tone`` ``{"freqs": [440], "seconds": 1.0, "level_dbm0": -10}``
  - ``GET /api/sim/{port}/phone?window=0.5`` — what the phone sees and hears: hook, ringing,
    ring count and measured cadence, caller IDs decoded from the line audio, digits heard,
    dominant frequencies and level over the window.
  - ``GET /api/sim/{port}/recording.wav?seconds=5`` — the last seconds heard (audio/wav).

Errors are ``{"error": "..."}`` with 400 (bad request body), 404 (no such port / not a
simulated board) or 409 (the action does not fit the phone's state).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from hal.sim.phone import VirtualPhone

JsonHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiBackend(Protocol):
    """What the API needs from the daemon."""

    def status(self) -> dict[str, Any]: ...

    def phone(self, port: int) -> VirtualPhone | None: ...

    def port_count(self) -> int: ...


_STATUS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest,
    404: web.HTTPNotFound,
    409: web.HTTPConflict,
}


def _error(status: int, message: str) -> web.HTTPException:
    return _STATUS[status](text=json.dumps({"error": message}), content_type="application/json")


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


class Api:
    def __init__(self, backend: ApiBackend) -> None:
        self.backend = backend
        self._tasks: set[asyncio.Task[None]] = set()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024)
        app.add_routes(
            [
                web.get("/api/status", self.status),
                web.get("/api/lines/{port}", self.line),
                web.post("/api/sim/{port}/hook", self.hook),
                web.post("/api/sim/{port}/flash", self.flash),
                web.post("/api/sim/{port}/dial", self.dial),
                web.post("/api/sim/{port}/tone", self.tone),
                web.get("/api/sim/{port}/phone", self.phone_state),
                web.get("/api/sim/{port}/recording.wav", self.recording),
            ]
        )
        return app

    # --- helpers ----------------------------------------------------------------------------
    def _port(self, request: web.Request) -> int:
        try:
            port = int(request.match_info["port"])
        except ValueError:
            raise _error(404, "port must be a number") from None
        if not 1 <= port <= self.backend.port_count():
            raise _error(404, f"no port {port}")
        return port

    def _phone(self, request: web.Request) -> VirtualPhone:
        port = self._port(request)
        phone = self.backend.phone(port)
        if phone is None:
            raise _error(404, "the board is not simulated: no virtual phone")
        return phone

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise _error(400, "the body must be a JSON object") from None
        if not isinstance(body, dict):
            raise _error(400, "the body must be a JSON object")
        return body

    def _background(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            await coro

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- handlers ---------------------------------------------------------------------------
    async def status(self, request: web.Request) -> web.Response:
        return web.json_response(self.backend.status())

    async def line(self, request: web.Request) -> web.Response:
        port = self._port(request)
        return web.json_response(self.backend.status()["lines"][port - 1])

    async def hook(self, request: web.Request) -> web.Response:
        phone = self._phone(request)
        body = await self._body(request)
        off = body.get("off_hook")
        if not isinstance(off, bool):
            raise _error(400, "off_hook must be true or false")
        if off:
            phone.off_hook()
        else:
            phone.on_hook()
        return web.json_response({"off_hook": phone.is_off_hook})

    async def flash(self, request: web.Request) -> web.Response:
        phone = self._phone(request)
        body = await self._body(request)
        ms = body.get("ms", 300)
        if not isinstance(ms, int | float) or not 20 <= ms <= 3000:
            raise _error(400, "ms must be a number of milliseconds, 20..3000")
        if not phone.is_off_hook:
            raise _error(409, "the phone is on-hook")
        await phone.flash(float(ms))
        return web.json_response({"flashed_ms": ms})

    async def dial(self, request: web.Request) -> web.Response:
        phone = self._phone(request)
        body = await self._body(request)
        digits = body.get("digits")
        mode = body.get("mode", "dtmf")
        if not isinstance(digits, str) or not digits or len(digits) > 64:
            raise _error(400, "digits must be a string of 1..64 keys")
        if mode not in ("dtmf", "pulse"):
            raise _error(400, "mode must be 'dtmf' or 'pulse'")
        allowed = "0123456789" if mode == "pulse" else "0123456789*#ABCD"
        if any(d not in allowed for d in digits):
            raise _error(400, f"{mode} dialing accepts only {allowed}")
        if not phone.is_off_hook:
            raise _error(409, "the phone is on-hook")
        if mode == "pulse":
            pps = body.get("pps", 10)
            if not isinstance(pps, int | float) or not 7 <= pps <= 22:
                raise _error(400, "pps must be 7..22")
            self._background(phone.pulse_dial(digits, pps=float(pps)))
        else:
            self._background(phone.dtmf_dial(digits))
        return web.json_response({"dialling": digits, "mode": mode}, status=202)

    async def tone(self, request: web.Request) -> web.Response:
        phone = self._phone(request)
        body = await self._body(request)
        freqs = body.get("freqs")
        seconds = body.get("seconds", 1.0)
        level = body.get("level_dbm0", -10.0)
        if (
            not isinstance(freqs, list)
            or not 1 <= len(freqs) <= 4
            or not all(isinstance(f, int | float) and 50 <= f <= 3900 for f in freqs)
        ):
            raise _error(400, "freqs must be 1..4 frequencies, 50..3900 Hz")
        if not isinstance(seconds, int | float) or not 0 < seconds <= 60:
            raise _error(400, "seconds must be in (0, 60]")
        if not isinstance(level, int | float) or not -60 <= level <= 3:
            raise _error(400, "level_dbm0 must be -60..3")
        phone.play_tone(tuple(float(f) for f in freqs), float(seconds), float(level))
        return web.json_response({"playing": freqs, "seconds": seconds}, status=202)

    async def phone_state(self, request: web.Request) -> web.Response:
        phone = self._phone(request)
        try:
            window = float(request.query.get("window", "0.5"))
        except ValueError:
            raise _error(400, "window must be a number of seconds") from None
        window = min(max(window, 0.02), 30.0)
        return web.json_response(phone_snapshot(phone, window))

    async def recording(self, request: web.Request) -> web.Response:
        phone = self._phone(request)
        try:
            seconds = float(request.query.get("seconds", "5"))
        except ValueError:
            raise _error(400, "seconds must be a number") from None
        return web.Response(
            body=phone.wav_bytes(min(max(seconds, 0.02), 30.0)), content_type="audio/wav"
        )


def phone_snapshot(phone: VirtualPhone, window: float = 0.5) -> dict[str, Any]:
    """What a virtual phone sees and hears, as JSON-able data."""
    return {
        "name": phone.name,
        "off_hook": phone.is_off_hook,
        "ringing": phone.ringing,
        "ring_count": phone.ring_count,
        "ring_cadence": [[round(on, 3), round(off, 3)] for on, off in phone.ring_cadence()],
        "caller_ids": [
            {
                "method": c.method,
                "number": c.number,
                "name": c.name,
                "datetime": c.datetime,
                "number_absent": c.number_absent,
                "name_absent": c.name_absent,
            }
            for c in phone.caller_ids
        ],
        "digits_heard": phone.digits_heard(),
        "level_dbm0": _finite(round(phone.level_dbm0(window), 1)),
        "tones": [
            {"freq_hz": round(t.freq_hz, 1), "level_dbm0": round(t.level_dbm0, 1)}
            for t in phone.dominant_tones(window)
        ],
    }
