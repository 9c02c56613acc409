"""The embedded registrar/proxy on real sockets: our own lines, then two baresip phones calling
each other through it (independent peers, digest auth, record-routing, audio checked)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import numpy as np
import pytest

from ata.dsp.wavio import read_wav
from ata.runtime.sip_endpoint import SipEndpoint, aor
from ata.runtime.sip_registrar import RegistrarServer
from ata.runtime.sip_transport import TransportConfig
from ata.sip.registration import RegistrationConfig, RegState
from tests.peers import LOOPBACK, free_port
from tests.peers.baresip import Baresip
from tests.sip.test_transport import _ca, _client_context, _server_context

USERS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}


@pytest.fixture
async def server() -> AsyncIterator[RegistrarServer]:
    srv = RegistrarServer(
        LOOPBACK, USERS, b"x" * 32, host=LOOPBACK, port=free_port(), min_expires=10
    )
    await srv.start()
    yield srv
    await srv.close()


def line_config(srv: RegistrarServer, user: str, password: str | None = None) -> RegistrationConfig:
    return RegistrationConfig(
        aor=aor(f"sip:{user}@{LOOPBACK}"),
        password=USERS[user] if password is None else password,
        registrar=aor(f"sip:{LOOPBACK}:{srv.port}"),
    )


async def test_lines_register_query_and_unregister(server: RegistrarServer) -> None:
    ep = SipEndpoint(TransportConfig(host=LOOPBACK, udp_port=0))
    await ep.start()
    alice = await ep.add_registration(line_config(server, "alice"), "udp")
    bob = await ep.add_registration(line_config(server, "bob"), "tcp")
    carol = await ep.add_registration(line_config(server, "carol", "nope"), "udp")
    for line in (alice, bob):
        await asyncio.wait_for(ep.wait_for(line, {RegState.REGISTERED}), 5)
    await asyncio.wait_for(ep.wait_for(carol, {RegState.AUTH_FAILED}), 5)
    assert carol.registration.status == 401
    assert server.core is not None
    now = server.now()
    (a,) = server.core.location.lookup("alice", now)
    (b,) = server.core.location.lookup("bob", now)
    assert a.flow.transport == "udp"
    assert b.flow.transport == "tcp"
    assert server.core.location.lookup("carol", now) == []
    bound = await asyncio.wait_for(ep.query(alice), 5)
    assert [str(c.uri) for c in bound] == [str(a.uri)]
    await ep.stop(grace=3.0)
    assert alice.registration.state is RegState.STOPPED
    assert bob.registration.state is RegState.STOPPED
    assert server.core.location.users() == []


def _dominant_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * 8000 / len(samples))


@pytest.mark.peers
async def test_two_baresip_phones_call_through_the_embedded_proxy(
    server: RegistrarServer,
    baresip_factory: Callable[..., Baresip],
    tone_wav: Callable[..., Path],
) -> None:
    common = "answermode=auto;audio_codecs=PCMU;ptime=20;regint=600"
    base = f"{LOOPBACK}:{server.port}"
    alice = await asyncio.to_thread(
        baresip_factory,
        f"<sip:alice@{base}>;auth_pass={USERS['alice']};{common}",
        tone_wav(440),
    )
    bob = await asyncio.to_thread(
        baresip_factory,
        f"<sip:bob@{base};transport=tcp>;auth_pass={USERS['bob']};{common}",
        tone_wav(1000),
    )
    await asyncio.to_thread(alice.wait_registered)
    await asyncio.to_thread(bob.wait_registered)
    assert server.core is not None
    (bob_binding,) = server.core.location.lookup("bob", server.now())
    assert bob_binding.flow.transport == "tcp"
    await asyncio.to_thread(alice.command, "dial", f"sip:bob@{base}")
    await asyncio.to_thread(alice.wait_event, "CALL_ESTABLISHED", timeout=10)
    await asyncio.sleep(1.5)  # let audio flow (wall time the peers need)
    await asyncio.to_thread(alice.command, "hangup")
    await asyncio.to_thread(bob.wait_event, "CALL_CLOSED", timeout=10)
    assert server.core.stats["forwarded_requests"] >= 3  # INVITE, ACK, BYE
    assert server.core.stats["challenges"] >= 1  # the INVITE was challenged (407)
    decoded = [p for p in bob.recordings() if p.name.endswith("-dec.wav")]
    assert decoded, "bob recorded what he heard"
    heard = read_wav(decoded[0])
    assert len(heard) >= 8000
    assert abs(_dominant_hz(heard[-8000:]) - 440) < 5
    # stop the phones while the server still answers their un-REGISTER (fast teardown)
    await asyncio.gather(asyncio.to_thread(alice.stop), asyncio.to_thread(bob.stop))


@pytest.mark.peers
async def test_call_to_unregistered_and_unknown_users(
    server: RegistrarServer, baresip_factory: Callable[..., Baresip], tone_wav: Callable[..., Path]
) -> None:
    base = f"{LOOPBACK}:{server.port}"
    alice = await asyncio.to_thread(
        baresip_factory,
        f"<sip:alice@{base}>;auth_pass={USERS['alice']};answermode=auto;regint=600",
        tone_wav(440),
    )
    await asyncio.to_thread(alice.wait_registered)
    await asyncio.to_thread(alice.command, "dial", f"sip:carol@{base}")
    closed = await asyncio.to_thread(alice.wait_event, "CALL_CLOSED", timeout=10)
    assert "480" in str(closed)
    await asyncio.to_thread(alice.command, "dial", f"sip:zed@{base}")
    closed = await asyncio.to_thread(alice.wait_event, "CALL_CLOSED", timeout=10)
    assert "404" in str(closed)
    await asyncio.to_thread(alice.stop)


async def test_registration_over_tls_with_certificate_validation(tmp_path: Path) -> None:
    ca_key, ca_cert, ca_path = _ca(tmp_path, "pi-ata test CA")
    srv = RegistrarServer(
        LOOPBACK,
        USERS,
        b"x" * 32,
        host=LOOPBACK,
        port=free_port(),
        tls_port=0,
        tls_context=_server_context(tmp_path, ca_key, ca_cert, "registrar.test"),
        min_expires=10,
    )
    await srv.start()
    tls_port = srv.transport.local_address("tls")[1]
    good = SipEndpoint(
        TransportConfig(host=LOOPBACK, udp_port=0, tls_client_context=_client_context(ca_path))
    )
    _, _, other_ca = _ca(tmp_path, "another CA")
    bad = SipEndpoint(
        TransportConfig(host=LOOPBACK, udp_port=0, tls_client_context=_client_context(other_ca))
    )
    await good.start()
    await bad.start()
    try:
        config = RegistrationConfig(
            aor=aor(f"sip:alice@{LOOPBACK}"),
            password=USERS["alice"],
            registrar=aor(f"sip:{LOOPBACK}:{tls_port};transport=tls"),
        )
        line = await good.add_registration(config)
        await asyncio.wait_for(good.wait_for(line, {RegState.REGISTERED}), 5)
        assert srv.core is not None
        (binding,) = srv.core.location.lookup("alice", srv.now())
        assert binding.flow.transport == "tls"
        assert "transport=tls" in str(binding.uri)
        # a client that does not trust the registrar's CA never gets to send a REGISTER
        with pytest.raises(ssl.SSLCertVerificationError):
            await bad.add_registration(config)
        assert srv.core.stats["registers"] == 2
    finally:
        await good.stop(grace=2.0)
        await bad.stop(grace=0.5)
        await srv.close()
