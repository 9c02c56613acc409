"""The daemon's SIP side, built from the configuration: endpoint, call manager, embedded registrar.

:func:`sip_calls` is the daemon's ``call_factory``. It maps ``config.lines`` to
:class:`~ata.runtime.calls.LineAccount` s and ``config.network`` to the transport. Lines with an
empty ``proxy`` use the **embedded registrar** (standalone mode): :class:`SipCalls` then starts
a :class:`~ata.runtime.sip_registrar.RegistrarServer` on ``network.local_port`` (the address
LAN softphones register to), and the ports' own user agent runs on an ephemeral local port and
registers to it like any other phone. The registrar's users are ``config.registrar.users``
plus the ports' own accounts.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ata.runtime.call_lines import LineAccount
from ata.runtime.call_media import CallMedia
from ata.runtime.calls import CallManager
from ata.runtime.calls_config import accounts_from_config, policy_from_config, transport_from_config
from ata.runtime.sip_endpoint import SipEndpoint
from ata.runtime.sip_registrar import RegistrarServer
from ata.runtime.sip_transport import Message, Source
from ata.sip.message import Request, make_response
from provisioning.diff import ConfigDiff
from provisioning.schema import Config

if TYPE_CHECKING:
    from ata.runtime.daemon import Daemon

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


@dataclass
class SipCalls:
    """:class:`ata.runtime.daemon.CallController` backed by the SIP stack."""

    config: Config
    registrar_port: int | None = None  # None = no embedded registrar needed
    registrar_host: str = "0.0.0.0"  # noqa: S104 - LAN phones register to it
    manager: CallManager | None = None
    registrar: RegistrarServer | None = None
    # Called with the source IP of a NOTIFY "Event: check-sync"/"resync" from a proxy; returns
    # whether a resync was scheduled (200) or refused (403). None: answered 403.
    on_check_sync: Callable[[str], bool] | None = None
    resync_requests: int = 0
    # Receives (call_id, RTP summary) when a call's media closes (the call log).
    on_media_closed: Callable[[str, dict[str, Any]], None] | None = None
    _sinks: dict[int, Any] = field(default_factory=dict)
    _next: Callable[[Message, Source], None] | None = None

    def attach(self, port: int, sink: Any) -> None:
        self._sinks[port] = sink
        if self.manager is not None:
            self.manager.attach(port, sink)

    async def start(self) -> None:
        cfg = self.config
        domain = ""
        if self.registrar_port is not None:
            users = _registrar_users(cfg)
            # On loopback (demo, tests) the domain is the address itself; on the LAN it is the
            # configured realm name, and phones use the Pi's address as their proxy.
            domain = LOOPBACK if self.registrar_host == LOOPBACK else cfg.registrar.realm
            self.registrar = RegistrarServer(
                domain,
                users,
                secrets.token_bytes(32),
                host=self.registrar_host,
                port=self.registrar_port,
            )
            await self.registrar.start()
            log.info("embedded registrar on port %d (%d users)", self.registrar.port, len(users))
        accounts = self._accounts(cfg, domain or None)
        transport = transport_from_config(cfg)
        if self.registrar is not None:
            transport.udp_port = 0  # the registrar owns network.local_port
            transport.tcp_port = None
        endpoint = SipEndpoint(transport)
        self.manager = CallManager(
            endpoint,
            accounts,
            sinks=self._sinks,
            policy=policy_from_config(cfg),
            own_endpoint=True,
            rtp_port_range=(cfg.network.rtp_port_min, cfg.network.rtp_port_max),
        )
        self.manager.on_media_closed = self.on_media_closed
        await self.manager.start()
        # In front of the call manager: out-of-dialog NOTIFY check-sync (provisioning).
        sip_transport = endpoint.transport
        self._next = sip_transport.handler
        sip_transport.handler = self._on_message

    def _accounts(self, cfg: Config, domain: str | None) -> list[LineAccount | None]:
        accounts = accounts_from_config(cfg, standalone_domain=domain)
        if self.registrar is None:
            return accounts
        # The co-located registrar is every standalone request's next hop (an IP-literal
        # domain would otherwise be sent to directly, on port 5060).
        hop = f"{LOOPBACK}:{self.registrar.port}"
        return [
            replace(acc, outbound_proxy=hop, transport="udp", expires=600)
            if acc is not None and not line.proxy
            else acc
            for acc, line in zip(accounts, cfg.lines, strict=True)
        ]

    def _on_message(self, message: Message, source: Source) -> None:
        if isinstance(message, Request) and message.method == "NOTIFY" and _is_resync(message):
            self._check_sync(message, source)
            return
        if self._next is not None:
            self._next(message, source)

    def _check_sync(self, request: Request, source: Source) -> None:
        """Resync on a NOTIFY from one of the lines' proxies; strangers get no answer at all."""
        manager = self.manager
        trusted = {ip for line in (manager.lines if manager else []) if line for ip in line.trusted}
        ip = source.address[0]
        if ip not in trusted:
            log.warning("NOTIFY check-sync from %s (not a proxy of ours): dropped", ip)
            return
        accepted = self.on_check_sync(ip) if self.on_check_sync is not None else False
        self.resync_requests += int(accepted)
        log.info("NOTIFY check-sync from proxy %s: %s", ip, "resync" if accepted else "refused")
        if manager is not None:
            manager.endpoint.transport.send_response(
                make_response(request, 200 if accepted else 403), source
            )

    async def apply_config(self, new: Config, changes: ConfigDiff) -> None:
        """Re-register only the lines whose account changed; the others keep their calls."""
        self.config = new
        if self.manager is None:
            return
        if changes.restart_transport:
            log.warning("SIP transport settings changed: they take effect at the next restart")
        domain = None
        if self.registrar is not None and self.registrar.core is not None:
            self.registrar.set_users(_registrar_users(new))
            domain = self.registrar.core.config.domain
        accounts = self._accounts(new, domain)
        reregister = changes.lines_to_reregister(len(new.lines))
        for index in sorted(reregister):
            if index < len(accounts):
                log.info("line %d: account changed, registering again", index + 1)
                await self.manager.replace_line(index, accounts[index])
        for index in sorted(changes.lines_to_reconfigure() - reregister):
            account = accounts[index] if index < len(accounts) else None
            if account is not None:
                log.info("line %d: call settings changed (next call)", index + 1)
                self.manager.update_account(index, account)

    async def stop(self) -> None:
        if self.manager is not None:
            await self.manager.stop()
        if self.registrar is not None:
            await self.registrar.close()

    def status(self) -> list[dict[str, Any]]:
        if self.manager is None:
            return []
        out = []
        for entry in self.manager.status():
            state = entry.get("registration")
            out.append(
                {
                    **entry,
                    "registration": {
                        "state": str(state) if state is not None else "off",
                        "expires_in": None,
                        "last_error": None,
                    },
                }
                if entry
                else {}
            )
        return out

    # --- CallControl: the ports' requests ---------------------------------------------------
    def _m(self) -> CallManager:
        if self.manager is None:
            raise RuntimeError("the SIP side is not started")
        return self.manager

    def place_call(self, port: int, call_id: str, number: str) -> None:
        self._m().place_call(port, call_id, number)

    def answer(self, call_id: str) -> None:
        self._m().answer(call_id)

    def reject(self, call_id: str, status: int) -> None:
        self._m().reject(call_id, status)

    def hang_up(self, call_id: str) -> None:
        self._m().hang_up(call_id)

    def send_dtmf(self, call_id: str, key: str) -> None:
        self._m().send_dtmf(call_id, key)

    def send_flash(self, call_id: str) -> None:
        self._m().send_flash(call_id)

    def hold(self, call_id: str) -> None:
        self._m().hold(call_id)

    def resume(self, call_id: str) -> None:
        self._m().resume(call_id)

    def transfer(self, call_id: str, target: str) -> bool:
        return self._m().transfer(call_id, target)

    def attended_transfer(self, call_id: str, consult_call_id: str) -> bool:
        return self._m().attended_transfer(call_id, consult_call_id)

    def media(self, call_id: str) -> CallMedia | None:
        return self._m().media(call_id)


def _registrar_users(cfg: Config) -> dict[str, str]:
    """The embedded registrar's accounts: the configured users plus the ports' own."""
    users = {u.user: u.password for u in cfg.registrar.users}
    users.update({ln.user: ln.password for ln in cfg.lines if not ln.proxy and ln.user})
    return users


def _is_resync(request: Request) -> bool:
    event = (request.headers.get("Event") or request.headers.get("o") or "").split(";")[0]
    return event.strip().lower() in ("check-sync", "resync") and not request.to.tag


def sip_calls(daemon: Daemon) -> SipCalls:
    """The daemon's call factory: the SIP side for ``daemon.config``."""
    config = daemon.config
    standalone = any(line.enabled and line.user and not line.proxy for line in config.lines)
    port = daemon.options.registrar_port
    if port is None:
        port = config.network.local_port
    host = daemon.options.registrar_host
    calls = SipCalls(config, registrar_port=port if standalone else None, registrar_host=host)
    calls.on_check_sync = daemon.check_sync
    calls.on_media_closed = daemon.call_log.attach_rtp
    return calls
