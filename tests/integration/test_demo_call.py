"""The demo's call as tests: two virtual phones on the simulated board call each other through
the embedded registrar, then through a real Kamailio with digest auth; a rotary phone dials by
pulses; a barred number gets reorder. Every check is made at the phones (their own DSP)."""

from __future__ import annotations

import io

import pytest

from ata.runtime.daemon import Daemon, DaemonOptions
from ata.runtime.demo import Narrator, call_script, demo_config, run_demo
from ata.runtime.sip_calls import sip_calls
from provisioning.schema import Config, Line, Network
from tests.peers import free_port
from tests.peers.kamailio import Kamailio

pytestmark = [pytest.mark.peers, pytest.mark.timeout(120)]


async def test_make_demo_call_holds_every_step() -> None:
    out = io.StringIO()
    assert await run_demo(out) == 0, out.getvalue()
    text = out.getvalue()
    assert "9/9 steps held." in text
    assert "FAIL" not in text


async def test_demo_call_through_kamailio_with_digest_auth(kamailio: Kamailio) -> None:
    proxy = f"{kamailio.host}:{kamailio.port}"
    config = Config(
        network=Network(local_port=free_port()),
        lines=[
            Line(
                proxy=proxy,
                user="1001",
                password=kamailio.users["1001"],
                display_name="Phone One",
                dial_plan="(10xx)",
            ),
            Line(
                proxy=proxy,
                user="1002",
                password=kamailio.users["1002"],
                display_name="Phone Two",
                dial_plan="(10xx)",
            ),
        ],
    )
    daemon = Daemon(
        config, sip_calls, options=DaemonOptions(api_port=0, freeze_gc=False, admin_listen="")
    )
    await daemon.start()
    try:
        out = io.StringIO()
        narrator = Narrator(out)
        assert await call_script(daemon, narrator), out.getvalue()
        assert all(narrator.results), out.getvalue()
        assert kamailio.contacts("1001") and kamailio.contacts("1002")
    finally:
        await daemon.stop()
    assert kamailio.contacts("1001") == [], "un-registered on stop"


@pytest.fixture
async def standalone():
    options = DaemonOptions(
        api_port=0,
        freeze_gc=False,
        admin_listen="",
        registrar_port=free_port(),
        registrar_host="127.0.0.1",
    )
    config = demo_config()
    lines = [
        Line(
            user=ln.user,
            password=ln.password,
            display_name=ln.display_name,
            dial_plan="(10xx|1900xxxx!)",
        )
        for ln in config.lines
    ]
    daemon = Daemon(Config(lines=lines, registrar=config.registrar), sip_calls, options=options)
    await daemon.start()
    yield daemon
    await daemon.stop()


async def test_rotary_phone_pulse_dials_the_other_port(standalone: Daemon) -> None:
    phone1, phone2 = standalone.sim.phones  # type: ignore[union-attr]
    phone1.off_hook()
    await phone1.wait_for(lambda: False, 0.5)
    await phone1.pulse_dial("1002", pps=10.0, break_ratio=0.6)
    assert await phone2.wait_for(lambda: phone2.ringing, 5.0), "phone 2 rings"
    phone2.off_hook()
    assert await phone2.wait_for(lambda: not phone2.ringing, 2.0)
    await phone2.wait_for(lambda: False, 0.5)
    assert standalone.ports[0].machine.state.value == "connected"
    assert standalone.ports[1].machine.state.value == "connected"
    phone1.on_hook()
    await phone1.wait_for(lambda: False, 1.5)
    assert standalone.ports[1].machine.state.value == "disconnected"
    phone2.on_hook()


async def test_barred_number_gets_reorder_and_no_call(standalone: Daemon) -> None:
    phone1, phone2 = standalone.sim.phones  # type: ignore[union-attr]
    phone1.off_hook()
    await phone1.wait_for(lambda: False, 0.5)
    await phone1.dtmf_dial("19005551")
    await phone1.wait_for(lambda: False, 0.8)
    freqs = sorted(round(t.freq_hz) for t in phone1.dominant_tones(0.5))
    assert any(abs(f - 480) < 6 for f in freqs) and any(abs(f - 620) < 6 for f in freqs), freqs
    assert standalone.ports[0].machine.state.value == "failed"
    assert standalone.call_log.recent(5) == []
    assert not phone2.ringing
