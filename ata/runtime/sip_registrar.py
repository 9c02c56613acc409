"""asyncio driver for the embedded registrar/proxy (standalone mode).

Theory of operation
-------------------
:class:`RegistrarServer` listens on UDP and TCP on one port (and TLS when a server context is
given), builds a :class:`~ata.sip.registrar.RegistrarCore` for its bound addresses, and for
every message the transport delivers runs the core and performs its actions:

* :class:`~ata.sip.registrar.Reply` goes back on the flow the request came from;
* :class:`~ata.sip.registrar.Forward` with a flow (a registered contact) reuses that flow —
  the phone's own TCP connection or its NAT mapping; otherwise numeric hosts are sent to
  directly and host names resolved with RFC 3263 (:class:`~ata.runtime.sip_dns.SipResolver`).

The core is stateless towards calls, so nothing here keeps per-call state; the location
table's expiry runs on one ``loop.call_at`` timer. A send that fails is logged and counted
(``forward_errors``); the caller's transaction will time out and retransmit.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import ssl
from collections.abc import Coroutine, Mapping

from ata.runtime.sip_dns import SipResolver, is_numeric_host
from ata.runtime.sip_transport import SipTransport, Source, TransportConfig
from ata.sip.message import Request, Response
from ata.sip.registrar import Flow, Forward, RegistrarConfig, RegistrarCore, Reply

log = logging.getLogger(__name__)


class RegistrarServer:
    """The embedded registrar/proxy on real sockets; see the module docstring."""

    def __init__(
        self,
        domain: str,
        users: Mapping[str, str],
        secret: bytes,
        *,
        host: str = "0.0.0.0",  # noqa: S104 - a LAN server listens on all interfaces
        port: int = 5060,
        advertised_host: str | None = None,
        tls_port: int | None = None,
        tls_context: ssl.SSLContext | None = None,
        resolver: SipResolver | None = None,
        min_expires: int = 60,
        max_expires: int = 3600,
        transport_config: TransportConfig | None = None,
    ) -> None:
        cfg = transport_config or TransportConfig()
        cfg.host = host
        cfg.udp_port = port
        cfg.tcp_port = port
        cfg.tls_port = tls_port
        cfg.tls_server_context = tls_context
        self.transport = SipTransport(cfg, self._on_message)
        self.resolver = resolver or SipResolver()
        self._params = (domain, dict(users), secret, min_expires, max_expires)
        self.advertised_host = advertised_host
        self.core: RegistrarCore | None = None
        self.forward_errors = 0
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.transport.start()
        domain, users, secret, min_expires, max_expires = self._params
        local = {}
        for name in ("udp", "tcp", "tls"):
            with contextlib.suppress(LookupError):
                bound_host, bound_port = self.transport.local_address(name)
                local[name] = (self.advertised_host or bound_host, bound_port)
        self.core = RegistrarCore(
            RegistrarConfig(
                domain=domain,
                users=users,
                secret=secret,
                local=local,
                min_expires=min_expires,
                max_expires=max_expires,
            )
        )

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        await self.transport.close()

    def set_users(self, users: Mapping[str, str]) -> None:
        """New accounts (a changed configuration): takes effect with the next request."""
        self._params = (self._params[0], dict(users), *self._params[2:])
        if self.core is not None:
            self.core.config = dataclasses.replace(self.core.config, users=dict(users))

    def now(self) -> float:
        return self._loop.time() if self._loop is not None else 0.0

    @property
    def port(self) -> int:
        return self.transport.local_address("udp")[1]

    def _on_message(self, message: Request | Response, source: Source) -> None:
        if self.core is None:
            return
        flow = Flow(source.transport, source.address, source.connection)
        for action in self.core.handle(message, flow, self.now()):
            if isinstance(action, Reply):
                self.transport.send_on_flow(action.response, source)
            else:
                self._spawn(self._forward(action))
        self._arm()

    async def _forward(self, action: Forward) -> None:
        if action.flow is not None:
            source = Source(action.flow.transport, action.flow.address, action.flow.connection)
            if self.transport.send_on_flow(action.message, source):
                return
        try:
            if is_numeric_host(action.host):
                dest = (action.host.strip("[]"), action.port or 5060)
                await self.transport.send(action.message, dest, action.transport)
                return
            targets = await self.resolver.resolve(action.host, action.port, action.transport)
            if not targets:
                raise OSError(f"cannot resolve {action.host}")
            first = targets[0]
            await self.transport.send(
                action.message,
                (first.address, first.port),
                first.transport,
                hostname=first.hostname,
            )
        except OSError as exc:
            self.forward_errors += 1
            log.info("forwarding to %s failed: %s", action.host, exc)

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _arm(self) -> None:
        if self._loop is None or self.core is None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        when = self.core.get_timer()
        if when is not None:
            self._timer = self._loop.call_at(when, self._fire, when)

    def _fire(self, when: float) -> None:
        self._timer = None
        if self.core is not None:
            self.core.handle_timer(max(self.now(), when))
        self._arm()
