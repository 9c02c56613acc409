"""Which line's agent takes an inbound SIP message: the CallManager's routing decisions.

Calls are keyed by (Call-ID, our tag), because both ends of a call between two of our own
lines share the Call-ID. New INVITEs pass the ghost-call gate (:class:`CallPolicy`): only from
a proxy's resolved address, only to one of our (registered) users; strangers get no answer.
The router only decides; :class:`ata.runtime.calls.CallManager` delivers.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence

from ata.runtime.call_lines import CallPolicy, LineState
from ata.runtime.sip_transport import Message, Source
from ata.sip.errors import SipParseError
from ata.sip.message import Request, Response
from ata.sip.ua_support import addressed_to

log = logging.getLogger("ata.runtime.calls")


class CallRouter:
    """Routing over the manager's live line table, call owners and counters (shared objects)."""

    def __init__(
        self,
        lines: Sequence[LineState | None],
        policy: CallPolicy,
        owner: OrderedDict[tuple[str, str], int],
        counters: dict[str, int],
        registered: Callable[[int], bool],
    ) -> None:
        self.lines = lines
        self.policy = policy
        self._owner = owner
        self.counters = counters
        self.registered = registered

    def route(self, message: Message, source: Source) -> int | None:
        """The port whose agent takes ``message``; -1 = the endpoint; None = drop.

        Calls are keyed by (Call-ID, our tag): both ends of a call between two of our own
        lines share the Call-ID, so the Call-ID alone cannot tell them apart. Responses we
        do not own (the registrations') go to the endpoint; every request is answered by an
        agent (481 for unknown dialogs, 200 for OPTIONS, 405/501 for other methods)."""
        try:
            call_id = message.call_id
            ours = message.from_.tag if isinstance(message, Response) else message.to.tag
        except SipParseError:
            if isinstance(message, Request) and (
                self.trusted(source) or not self.policy.proxy_sources_only
            ):
                return self._first_line()  # its agent answers 400 (RFC 4475 §3.3.1)
            self.counters["dropped_malformed"] += 1
            return None
        if ours:
            owner = self._owner.get((call_id, ours))
            if owner is not None:
                return owner
        if isinstance(message, Response):
            return -1
        if not self.trusted(source) and self.policy.proxy_sources_only:
            self.counters["ghost_source"] += 1
            log.info("%s from %s (not a proxy) dropped", message.method, source.address[0])
            return None
        if not ours and message.method in ("INVITE", "CANCEL"):
            return self._route_new_invite(message, source)
        return self._any_line(message)

    def _any_line(self, request: Request) -> int | None:
        """The line a stray request is addressed to, else the first line with an agent."""
        lines = [ln for ln in self.lines if ln is not None and ln.agent is not None]
        for line in lines:
            if line.agent is not None and addressed_to(line.agent.config, request):
                return line.port
        return lines[0].port if lines else -1

    def _first_line(self) -> int:
        return next((ln.port for ln in self.lines if ln is not None and ln.agent is not None), -1)

    def trusted(self, source: Source) -> bool:
        return any(ln is not None and source.address[0] in ln.trusted for ln in self.lines)

    def _route_new_invite(self, request: Request, source: Source) -> int | None:
        """A request outside any dialog for one of our users (INVITE, its retransmissions
        and its CANCEL): the line whose user it is addressed to, or None (no answer)."""
        lines = [ln for ln in self.lines if ln is not None and ln.agent is not None]
        for line in lines:
            if line.agent is None:
                continue
            if self.policy.proxy_sources_only and source.address[0] not in line.trusted:
                continue
            must_register = self.policy.require_registration and line.account.register
            if must_register and not self.registered(line.port):
                continue
            if addressed_to(line.agent.config, request):
                return line.port
        self.counters["ghost_user"] += 1
        if self.policy.silent or not lines or request.method != "INVITE":
            log.info("INVITE for an unknown user from %s dropped", source.address[0])
            return None
        return lines[0].port  # its agent answers 404 (not our user)
