"""Locating SIP servers (RFC 3263) with dnspython's asyncio resolver.

Theory of operation
-------------------
:meth:`SipResolver.resolve` turns a next-hop (host, optional port, optional transport, sips or
not) into an ordered list of :class:`Target` (IP address, port, transport) to try one after
the other (failover):

1. A numeric host needs no lookup: transport defaults to UDP (TLS for sips), port to
   5060/5061.
2. An explicit port skips NAPTR/SRV: only A/AAAA of the host.
3. Without a transport, NAPTR records of the host select transports (``SIP+D2U``,
   ``SIP+D2T``, ``SIPS+D2T``; ordered by order, then preference) and give the SRV names;
   without usable NAPTR, SRV is queried for each transport we support in our preference order.
4. SRV records are ordered by priority and, within one priority, by RFC 2782's weighted random
   selection (``rng`` is injectable for tests); a target ``.`` means "no service here".
5. Each SRV target (or the host itself when there is no SRV) is resolved to A and AAAA.

Lookup failures (NXDOMAIN, no answer, timeout) just mean "no records of that kind"; an empty
result list means the host cannot be reached. No lookup result is cached here beyond what the
resolver itself does (dnspython's resolver cache can be enabled by the caller).

``localhost`` (and names under ``.localhost``) is the loopback address without any lookup
(RFC 6761 §6.3: resolvers answer it locally; dnspython does not read ``/etc/hosts``), like a
numeric host. dnspython (~6 MB resident) is imported, and its resolver (which reads
``/etc/resolv.conf``) built, only at the first real lookup: a device whose proxies are IP
addresses never loads it.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import dns.asyncresolver

DEFAULT_PORTS: Final = {"udp": 5060, "tcp": 5060, "tls": 5061}
_NAPTR_SERVICES: Final = {"SIP+D2U": "udp", "SIP+D2T": "tcp", "SIPS+D2T": "tls"}
_SRV_PREFIX: Final = {"udp": "_sip._udp.", "tcp": "_sip._tcp.", "tls": "_sips._tcp."}


@dataclass(frozen=True)
class Target:
    """One place to send a request: an IP address, port and transport (udp/tcp/tls).

    ``hostname`` is the name to verify a TLS certificate against (the SRV target or host).
    """

    address: str
    port: int
    transport: str
    hostname: str | None = None


@dataclass(frozen=True)
class SrvRecord:
    priority: int
    weight: int
    port: int
    target: str


def is_numeric_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def is_localhost(host: str) -> bool:
    """``localhost`` or a name under ``.localhost`` (RFC 6761 §6.3): always the loopback."""
    name = host.rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")


def _literal(host: str) -> str | None:
    """The address a host names without any lookup: an IP literal, or loopback for localhost."""
    if is_numeric_host(host):
        return host.strip("[]")
    if is_localhost(host):
        return "127.0.0.1"
    return None


def order_srv(records: Sequence[SrvRecord], rng: random.Random) -> list[SrvRecord]:
    """RFC 2782 ordering: ascending priority; weighted random order within a priority."""
    ordered: list[SrvRecord] = []
    for priority in sorted({r.priority for r in records}):
        group = [r for r in records if r.priority == priority]
        # zero-weight records first in the list, so they have a small chance (RFC 2782)
        group.sort(key=lambda r: r.weight != 0)
        while group:
            total = sum(r.weight for r in group)
            if total == 0:
                ordered.extend(group)
                break
            pick = rng.randint(0, total)
            running = 0
            for index, record in enumerate(group):
                running += record.weight
                if running >= pick:
                    ordered.append(group.pop(index))
                    break
    return ordered


class SipResolver:
    """RFC 3263 server location. ``transports`` lists the ones we support, preferred first."""

    def __init__(
        self,
        resolver: dns.asyncresolver.Resolver | None = None,
        *,
        transports: Sequence[str] = ("udp", "tcp", "tls"),
        rng: random.Random | None = None,
        ipv6: bool = True,
    ) -> None:
        self._resolver = resolver
        self.transports = tuple(transports)
        self.rng = rng or random.Random()
        self.ipv6 = ipv6
        self.lookups = 0

    @property
    def resolver(self) -> dns.asyncresolver.Resolver:
        """dnspython's resolver, imported and built at the first lookup that needs it."""
        if self._resolver is None:
            import dns.asyncresolver

            self._resolver = dns.asyncresolver.Resolver()
        return self._resolver

    async def _query(self, name: str, rdtype: str) -> list[object]:
        import dns.exception
        import dns.resolver

        self.lookups += 1
        try:
            answer = await self.resolver.resolve(name, rdtype, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers):
            return []
        except (dns.exception.Timeout, dns.resolver.LifetimeTimeout):
            return []
        return list(answer)

    async def addresses(self, host: str) -> list[str]:
        """A records, then AAAA records, of ``host`` (numeric hosts returned as they are)."""
        literal = _literal(host)
        if literal is not None:
            return [literal]
        found = [str(r) for r in await self._query(host, "A")]
        if self.ipv6:
            found += [str(r) for r in await self._query(host, "AAAA")]
        return found

    async def _srv(self, name: str) -> list[SrvRecord]:
        records = []
        for r in await self._query(name, "SRV"):
            target = str(r.target).rstrip(".")  # type: ignore[attr-defined]
            records.append(
                SrvRecord(r.priority, r.weight, r.port, target)  # type: ignore[attr-defined]
            )
        if len(records) == 1 and records[0].target == "":
            return []  # "." : service decidedly not available
        return [r for r in records if r.target]

    async def _from_srv(self, name: str, transport: str) -> list[Target] | None:
        records = await self._srv(name)
        if not records:
            return None
        targets: list[Target] = []
        for record in order_srv(records, self.rng):
            addresses = await self.addresses(record.target)
            targets.extend(Target(a, record.port, transport, record.target) for a in addresses)
        return targets

    async def _naptr(self, host: str, secure: bool) -> list[tuple[str, str]]:
        """(transport, SRV name) pairs from NAPTR records, in order/preference order."""
        rows = []
        for r in await self._query(host, "NAPTR"):
            service = r.service.decode("ascii", "replace").upper()  # type: ignore[attr-defined]
            flags = r.flags.decode("ascii", "replace").lower()  # type: ignore[attr-defined]
            transport = _NAPTR_SERVICES.get(service)
            if transport is None or flags != "s" or transport not in self.transports:
                continue
            if secure and transport != "tls":
                continue
            replacement = str(r.replacement).rstrip(".")  # type: ignore[attr-defined]
            rows.append((r.order, r.preference, transport, replacement))  # type: ignore[attr-defined]
        rows.sort(key=lambda row: (row[0], row[1]))
        return [(row[2], row[3]) for row in rows]

    async def resolve(
        self,
        host: str,
        port: int | None = None,
        transport: str | None = None,
        *,
        secure: bool = False,
    ) -> list[Target]:
        """Ordered targets for a next hop (see the module docstring for the rules)."""
        if transport is not None:
            transport = transport.lower()
        if secure and transport is None:
            transport = "tls"
        literal = _literal(host)
        if literal is not None:
            chosen = transport or "udp"
            name = None if is_numeric_host(host) else host
            return [Target(literal, port or DEFAULT_PORTS[chosen], chosen, name)]
        if port is not None:
            chosen = transport or "udp"
            return [Target(a, port, chosen, host) for a in await self.addresses(host)]
        if transport is None:
            targets: list[Target] = []
            for naptr_transport, srv_name in await self._naptr(host, secure):
                found = await self._from_srv(srv_name, naptr_transport)
                targets.extend(found or [])
            if targets:
                return targets
            for candidate in self.transports:
                found = await self._from_srv(_SRV_PREFIX[candidate] + host, candidate)
                if found:
                    targets.extend(found)
            if targets:
                return targets
            chosen = "udp" if "udp" in self.transports else self.transports[0]
        else:
            found = await self._from_srv(_SRV_PREFIX[transport] + host, transport)
            if found:
                return found
            chosen = transport
        return [Target(a, DEFAULT_PORTS[chosen], chosen, host) for a in await self.addresses(host)]
