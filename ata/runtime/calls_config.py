"""From the provisioned :class:`provisioning.schema.Config` to a running
:class:`~ata.runtime.calls.CallManager`: accounts per port, ghost-call policy, transport.

The daemon's call factory is :func:`ata.runtime.sip_calls.sip_calls` (which also runs the
embedded registrar and answers NOTIFY check-sync); by hand::

    manager = build_call_manager(config, sink_lookup=...)   # owns its SipEndpoint
    await manager.start()        # binds SIP, resolves proxies, registers, routes calls
    ...                          # ports call place_call/answer/reject/hang_up/...; events
    await manager.stop()         # come back through PortDriver.call_event

A line with an empty ``proxy`` uses the built-in registrar (standalone mode): pass its
``host:port`` as ``standalone_domain`` (lines are then accounts of that registrar).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from ata.media.jitter import JitterConfig, JitterMode
from ata.runtime.calls import CallManager, CallPolicy, LineAccount, PortSink
from ata.runtime.sip_endpoint import SipEndpoint
from ata.runtime.sip_transport import TransportConfig
from provisioning.schema import Config
from provisioning.schema import Line as LineConfig

log = logging.getLogger(__name__)


def account_for(line: LineConfig, standalone_domain: str | None = None) -> LineAccount | None:
    """The SIP account of one configured port; None when the port has no usable account."""
    if not line.enabled or not line.user:
        return None
    domain = line.proxy or standalone_domain
    if not domain:
        return None
    return LineAccount(
        user=line.user,
        domain=domain,
        password=line.password,
        auth_user=line.auth_user,
        display_name=line.display_name,
        outbound_proxy=line.outbound_proxy,
        dtmf_mode=line.dtmf_mode,
        codecs=tuple(str(c) for c in line.codecs),
        expires=line.registration.expires,
        mwi_subscribe=line.mwi_subscribe,
        mwi_uri=line.mwi_uri,
        jitter=JitterConfig(
            mode=JitterMode(line.jitter_buffer.mode),
            fixed_delay_ms=line.jitter_buffer.fixed_delay_ms,
            max_delay_ms=line.jitter_buffer.max_delay_ms,
        ),
        phase_alignment=line.jitter_buffer.phase_alignment,
    )


def accounts_from_config(
    config: Config, standalone_domain: str | None = None
) -> list[LineAccount | None]:
    """One account per configured port, all on the network section's transport."""
    accounts: list[LineAccount | None] = []
    for index, line in enumerate(config.lines):
        acc = account_for(line, standalone_domain)
        if acc is None and line.enabled:
            log.warning("line %d has no SIP account (user or proxy missing)", index + 1)
        accounts.append(None if acc is None else replace(acc, transport=config.network.transport))
    return accounts


def policy_from_config(config: Config) -> CallPolicy:
    return CallPolicy(
        proxy_sources_only=config.security.restrict_source_to_proxy,
        require_registration=config.security.check_request_uri_user,
        silent=True,
    )


def transport_from_config(config: Config, host: str = "0.0.0.0") -> TransportConfig:  # noqa: S104
    net = config.network
    return TransportConfig(
        host=host,
        udp_port=net.local_port,
        tcp_port=net.local_port if net.transport == "tcp" else None,
        rate_per_second=float(config.security.rate_limit_per_s),
        rate_burst=float(config.security.rate_limit_burst),
    )


def build_call_manager(
    config: Config,
    *,
    host: str = "0.0.0.0",  # noqa: S104 - an ATA listens on its LAN address
    sink_lookup: Callable[[int], PortSink | None] | None = None,
    standalone_domain: str | None = None,
    user_agent: str = "pi-ata",
) -> CallManager:
    """A CallManager owning its SipEndpoint, configured from ``config``."""
    endpoint = SipEndpoint(transport_from_config(config, host))
    net = config.network
    return CallManager(
        endpoint,
        accounts_from_config(config, standalone_domain),
        policy=policy_from_config(config),
        rtp_port_range=(net.rtp_port_min, net.rtp_port_max),
        own_endpoint=True,
        user_agent=user_agent,
        sink_lookup=sink_lookup,
    )
