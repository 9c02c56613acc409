"""RFC 3263 server location against a real DNS responder on 127.0.0.1 (no external network)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator

import dns.asyncresolver
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from ata.runtime.sip_dns import SipResolver, SrvRecord, Target, order_srv

ZONE: dict[tuple[str, str], list[str]] = {
    ("example.test.", "NAPTR"): [
        '10 50 "s" "SIP+D2T" "" _sip._tcp.example.test.',
        '20 50 "s" "SIP+D2U" "" _sip._udp.example.test.',
        '5 50 "s" "X-UNKNOWN" "" _x._tcp.example.test.',
    ],
    ("_sip._tcp.example.test.", "SRV"): ["0 0 5070 tcp1.example.test."],
    ("_sip._udp.example.test.", "SRV"): [
        "10 0 5060 backup.example.test.",
        "1 0 5062 udp1.example.test.",
    ],
    ("tcp1.example.test.", "A"): ["192.0.2.1"],
    ("udp1.example.test.", "A"): ["192.0.2.2"],
    ("udp1.example.test.", "AAAA"): ["2001:db8::2"],
    ("backup.example.test.", "A"): ["192.0.2.3"],
    # SRV without NAPTR
    ("_sip._udp.srvonly.test.", "SRV"): ["0 10 5080 a.srvonly.test.", "0 30 5081 b.srvonly.test."],
    ("a.srvonly.test.", "A"): ["198.51.100.1"],
    ("b.srvonly.test.", "A"): ["198.51.100.2"],
    ("_sips._tcp.srvonly.test.", "SRV"): ["0 0 5061 a.srvonly.test."],
    # plain A
    ("plain.test.", "A"): ["203.0.113.7", "203.0.113.8"],
    # SRV saying "no service"
    ("_sip._udp.none.test.", "SRV"): ["0 0 0 ."],
    ("none.test.", "A"): ["203.0.113.9"],
}


class _Responder(asyncio.DatagramProtocol):
    def __init__(self, zone: dict[tuple[str, str], list[str]] | None = None) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.queries: list[tuple[str, str]] = []
        self.zone = ZONE if zone is None else zone

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, rdtype))
        records = self.zone.get((name, rdtype))
        if records:
            response.answer.append(dns.rrset.from_text_list(name, 60, "IN", rdtype, records))
        elif not any(key[0] == name for key in self.zone):
            response.set_rcode(dns.rcode.NXDOMAIN)
        assert self.transport is not None
        self.transport.sendto(response.to_wire(), addr)


@pytest.fixture
async def responder() -> AsyncIterator[tuple[_Responder, int]]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        _Responder, local_addr=("127.0.0.1", 0)
    )
    port = transport.get_extra_info("sockname")[1]
    yield protocol, port
    transport.close()


def _resolver(port: int, seed: int = 1) -> SipResolver:
    inner = dns.asyncresolver.Resolver(configure=False)
    inner.nameservers = ["127.0.0.1"]
    inner.port = port
    inner.lifetime = 2.0
    return SipResolver(inner, rng=random.Random(seed))


async def test_numeric_host_and_explicit_port_skip_lookups(responder) -> None:
    protocol, port = responder
    resolver = _resolver(port)
    assert await resolver.resolve("10.1.2.3") == [Target("10.1.2.3", 5060, "udp")]
    assert await resolver.resolve("10.1.2.3", secure=True) == [Target("10.1.2.3", 5061, "tls")]
    assert await resolver.resolve("[2001:db8::5]", 5099, "tcp") == [
        Target("2001:db8::5", 5099, "tcp")
    ]
    assert protocol.queries == []
    targets = await resolver.resolve("plain.test", 5070)
    assert sorted(targets, key=lambda t: t.address) == [
        Target("203.0.113.7", 5070, "udp", "plain.test"),
        Target("203.0.113.8", 5070, "udp", "plain.test"),
    ]
    assert {q[1] for q in protocol.queries} == {"A", "AAAA"}


async def test_naptr_then_srv_then_a_in_order(responder) -> None:
    protocol, port = responder
    targets = await _resolver(port).resolve("example.test")
    assert targets == [
        Target("192.0.2.1", 5070, "tcp", "tcp1.example.test"),
        Target("192.0.2.2", 5062, "udp", "udp1.example.test"),
        Target("2001:db8::2", 5062, "udp", "udp1.example.test"),
        Target("192.0.2.3", 5060, "udp", "backup.example.test"),
    ]
    assert protocol.queries[0] == ("example.test.", "NAPTR")


async def test_srv_without_naptr_and_weighted_choice(responder) -> None:
    _, port = responder
    firsts: Counter[int] = Counter()
    for seed in range(200):
        targets = await _resolver(port, seed).resolve("srvonly.test", transport="udp")
        assert {t.port for t in targets} == {5080, 5081}
        firsts[targets[0].port] += 1
    # weights 10 and 30: the heavier target comes first about 3/4 of the time
    assert 120 < firsts[5081] < 180


async def test_srv_fallback_without_transport_and_sips(responder) -> None:
    _, port = responder
    targets = await _resolver(port).resolve("srvonly.test")
    assert [t.transport for t in targets][:2] == ["udp", "udp"]
    assert targets[-1] == Target("198.51.100.1", 5061, "tls", "a.srvonly.test")
    secure = await _resolver(port).resolve("srvonly.test", secure=True)
    assert secure == [Target("198.51.100.1", 5061, "tls", "a.srvonly.test")]


async def test_no_srv_falls_back_to_a_with_default_port(responder) -> None:
    _, port = responder
    targets = await _resolver(port).resolve("plain.test", transport="tcp")
    assert sorted(targets, key=lambda t: t.address) == [
        Target("203.0.113.7", 5060, "tcp", "plain.test"),
        Target("203.0.113.8", 5060, "tcp", "plain.test"),
    ]
    # "." SRV target: the service is not offered there, so use the host's address
    assert await _resolver(port).resolve("none.test", transport="udp") == [
        Target("203.0.113.9", 5060, "udp", "none.test")
    ]


async def test_unknown_name_gives_empty_list(responder) -> None:
    _, port = responder
    assert await _resolver(port).resolve("nowhere.test") == []


async def test_dead_server_times_out_to_empty_list() -> None:
    inner = dns.asyncresolver.Resolver(configure=False)
    inner.nameservers = ["127.0.0.1"]
    inner.port = 9  # discard: nothing answers
    inner.lifetime = 0.3
    inner.timeout = 0.1
    assert await SipResolver(inner).resolve("example.test", 5060) == []


def test_order_srv_priority_and_zero_weights() -> None:
    records = [
        SrvRecord(20, 0, 1, "c"),
        SrvRecord(10, 0, 2, "a"),
        SrvRecord(10, 0, 3, "b"),
    ]
    ordered = order_srv(records, random.Random(0))
    assert [r.priority for r in ordered] == [10, 10, 20]
    assert {r.target for r in ordered[:2]} == {"a", "b"}


async def test_endpoint_fails_over_to_the_next_srv_target() -> None:
    """SRV says: try a dead TCP port first, then the real registrar; registration succeeds."""
    from ata.runtime.sip_endpoint import SipEndpoint, aor
    from ata.runtime.sip_registrar import RegistrarServer
    from ata.runtime.sip_transport import TransportConfig
    from ata.sip.registration import RegistrationConfig, RegState
    from tests.peers import free_port

    users = {"alice": "pw"}
    server = RegistrarServer("127.0.0.1", users, b"z" * 32, host="127.0.0.1", port=free_port())
    await server.start()
    dead = free_port()
    zone = {
        ("_sip._tcp.pbx.test.", "SRV"): [
            f"1 0 {dead} a.pbx.test.",
            f"2 0 {server.port} a.pbx.test.",
        ],
        ("a.pbx.test.", "A"): ["127.0.0.1"],
    }
    loop = asyncio.get_running_loop()
    dns_transport, _ = await loop.create_datagram_endpoint(
        lambda: _Responder(zone), local_addr=("127.0.0.1", 0)
    )
    endpoint = SipEndpoint(
        TransportConfig(host="127.0.0.1", udp_port=0),
        resolver=_resolver(dns_transport.get_extra_info("sockname")[1]),
    )
    await endpoint.start()
    try:
        config = RegistrationConfig(
            aor=aor("sip:alice@127.0.0.1"),
            password="pw",
            registrar=aor("sip:127.0.0.1"),
            outbound_proxy=aor("sip:pbx.test"),
        )
        line = await endpoint.add_registration(config, "tcp")
        assert [t.port for t in line.targets] == [dead, server.port]
        assert line.target.port == server.port
        await asyncio.wait_for(endpoint.wait_for(line, {RegState.REGISTERED}), 5)
    finally:
        await endpoint.stop(grace=2.0)
        await server.close()
        dns_transport.close()
