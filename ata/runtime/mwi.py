"""Message waiting in the runtime: the message-summary subscription of a line and the
indication on its port (pieces of :class:`~ata.runtime.calls.CallManager`).

Theory of operation
-------------------
A line whose account has ``mwi_subscribe`` subscribes to ``message-summary`` (RFC 3842) once
its registration first succeeds (at once when it does not register): to ``mwi_uri`` when set
(a voicemail server), else its own address of record, through the line's proxy. The sans-IO
agent (:mod:`ata.sip.ua_subscribe`) refreshes it before expiry, answers challenges, and stops
quietly when the server has no such service (489/404). The subscription's Call-ID and tag
are registered with the manager's routing table so its responses and NOTIFYs reach the agent.

Every message-summary NOTIFY — of the subscription, or unsolicited as many ITSPs send them —
becomes :class:`ata.line.port.MessageWaiting` for the line's port (stutter dial tone; the port
driver may also send VMWI). :func:`unsubscribe` sends Expires: 0 when the manager stops.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ata.line import port as lp
from ata.runtime.call_lines import LineState
from ata.sip import call as sc
from ata.sip.errors import SipParseError
from ata.sip.registration import RegState
from ata.sip.uri import SipURI, parse_uri

if TYPE_CHECKING:
    from ata.runtime.calls import CallManager

log = logging.getLogger(__name__)


async def subscribe_when_registered(m: CallManager, line: LineState) -> None:
    acc = line.account
    if not acc.mwi_subscribe:
        return
    if line.registration is not None:
        await m.endpoint.wait_for(line.registration, {RegState.REGISTERED, RegState.REFRESHING})
    agent = line.agent
    if agent is None or m._line(line.port) is not line:
        return
    uri: SipURI | None = None
    if acc.mwi_uri:
        try:
            text = acc.mwi_uri
            parsed = parse_uri(
                text if text.lower().startswith(("sip:", "sips:")) else f"sip:{text}"
            )
        except SipParseError:
            parsed = None
        if not isinstance(parsed, SipURI):
            log.error("line %d: bad voicemail URI %r; not subscribing", line.port + 1, acc.mwi_uri)
            return
        uri = parsed
    sub = agent.subscribe_mwi(m.now(), uri, expires=acc.mwi_expires)
    if sub is None:
        return
    log.info("line %d: subscribed to message-summary of %s", line.port + 1, sub.uri)
    m._track(sub.call_id, sub.from_tag, line.port)
    m._pump(line)


def on_message_waiting(m: CallManager, line: LineState, event: sc.MessageWaiting) -> None:
    log.info("port %d: message waiting %s", line.port + 1, "on" if event.waiting else "off")
    line.message_waiting = event.waiting
    m._tell(line.port, lp.MessageWaiting(event.waiting))


def unsubscribe(m: CallManager, line: LineState | None = None) -> None:
    """Expires: 0 for the subscriptions of ``line`` (default: every line)."""
    for each in m.lines if line is None else [line]:
        if each is not None and each.agent is not None and each.agent.subscriptions:
            each.agent.stop_subscriptions(m.now())
            m._pump(each)
