"""A listening socket whose aiohttp application is loaded at the first connection.

Theory of operation
-------------------
The daemon's JSON API and web admin are aiohttp applications. aiohttp and its dependencies
cost ~12 MB resident: a fifth of the device's memory budget, for pages that a provisioned ATA
in the field may never serve. :class:`OnDemandSite` works like systemd socket activation:

``LISTENING``
    :meth:`start` binds and listens (the port is taken and known, a bad address fails at
    start), and watches the listening socket with ``loop.add_reader``. Nothing of aiohttp is
    imported.
``LOADING``
    the first connection makes the socket readable: the watch is removed and the modules in
    ``preload`` are imported in a worker thread (``asyncio.to_thread``; the written reason for
    that one thread: the import takes ~0.2 s here and over a second on a Pi Zero 2 W, which on
    the event loop would stall the 20 ms media frames of calls in progress; in the thread the
    loop keeps running, only sharing the interpreter lock). Then ``build()`` makes the
    application on the loop.
``SERVING``
    an ``AppRunner`` with a ``SockSite`` on the very same socket: the connection waiting in the
    listen backlog is accepted by aiohttp's server like any other.
``FAILED``
    loading raised: the error is logged and the socket closed (clients see a refused
    connection rather than a hang).

:meth:`close` works in any state. ``listen`` strings are ``host:port``, ``[v6]:port`` or
``host`` (:func:`parse_listen`).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import importlib
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ssl

    from aiohttp import web

_LOG = logging.getLogger(__name__)
DEFAULT_PORT = 8080
BACKLOG = 32


class SiteState(enum.Enum):
    LISTENING = "listening"
    LOADING = "loading"
    SERVING = "serving"
    FAILED = "failed"
    CLOSED = "closed"


def parse_listen(listen: str) -> tuple[str, int]:
    """``host:port``, ``[v6]:port`` or ``host`` (port 8080) -> (host, port)."""
    if listen.startswith("["):
        host, _, rest = listen[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else DEFAULT_PORT
    host, sep, port = listen.rpartition(":")
    return (host, int(port)) if sep else (listen, DEFAULT_PORT)


def _import_all(names: Sequence[str]) -> None:
    for name in names:
        importlib.import_module(name)


class OnDemandSite:
    """Listen on ``host:port`` now; import ``preload`` and serve ``build()`` at the first
    connection (see the module docstring)."""

    def __init__(
        self,
        host: str,
        port: int,
        build: Callable[[], Awaitable[web.Application]],
        *,
        preload: Sequence[str] = ("aiohttp.web",),
        ssl_context: ssl.SSLContext | None = None,
        name: str = "HTTP",
    ) -> None:
        self.host = host
        self.requested_port = port
        self.port = 0
        self.state = SiteState.CLOSED
        self.name = name
        self._build = build
        self._preload = tuple(preload)
        self._ssl = ssl_context
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self.loaded = asyncio.Event()

    async def start(self) -> None:
        """Bind and listen; raises ``OSError`` when the address cannot be used."""
        self._loop = asyncio.get_running_loop()
        family, address = await self._address(self._loop)
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(BACKLOG)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self.port = sock.getsockname()[1]
        self.state = SiteState.LISTENING
        self._loop.add_reader(sock.fileno(), self._first_connection, self._loop, sock)

    async def _address(self, loop: asyncio.AbstractEventLoop) -> tuple[int, Any]:
        """(family, bind address); an IP literal needs no lookup (and so no executor thread,
        which ``loop.getaddrinfo`` would start)."""
        try:
            ip = ipaddress.ip_address(self.host)
        except ValueError:
            infos = await loop.getaddrinfo(
                self.host or None, self.requested_port, type=socket.SOCK_STREAM,
                flags=socket.AI_PASSIVE,
            )  # fmt: skip
            return infos[0][0], infos[0][4]
        if ip.version == 6:
            return socket.AF_INET6, (str(ip), self.requested_port, 0, 0)
        return socket.AF_INET, (str(ip), self.requested_port)

    def _first_connection(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        loop.remove_reader(sock.fileno())
        self.state = SiteState.LOADING
        self._task = loop.create_task(self._load(sock), name=f"load-{self.name}")

    async def _load(self, sock: socket.socket) -> None:
        try:
            await asyncio.to_thread(_import_all, self._preload)
            from aiohttp import web

            runner = web.AppRunner(await self._build(), access_log=None)
            await runner.setup()
            self._runner = runner
            await web.SockSite(runner, sock, ssl_context=self._ssl).start()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - any failure to load: log it, refuse connections
            _LOG.exception(
                "%s on port %d: the application could not be loaded", self.name, self.port
            )
            self.state = SiteState.FAILED
            await self._close_runner()
            self._close_socket()
            return
        self.state = SiteState.SERVING
        _LOG.info("%s on port %d loaded at its first connection", self.name, self.port)
        self.loaded.set()

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.state is SiteState.LISTENING and self._loop is not None and self._sock is not None:
            self._loop.remove_reader(self._sock.fileno())
        await self._close_runner()
        self._close_socket()
        self.state = SiteState.CLOSED

    async def _close_runner(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    def _close_socket(self) -> None:
        if self._sock is not None:
            sock, self._sock = self._sock, None
            sock.close()
