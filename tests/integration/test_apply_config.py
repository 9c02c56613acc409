"""A configuration change touches only what changed: line 2's new account registers (and the
old one is gone from Kamailio) while line 1 keeps its call with baresip, audio still flowing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from ata.runtime.daemon import Daemon, DaemonOptions
from ata.runtime.sip_calls import sip_calls
from provisioning.schema import Config, Line, Network
from tests.integration.calls_support import baresip_phone, in_thread
from tests.peers import free_port
from tests.peers.baresip import Baresip
from tests.peers.kamailio import Kamailio

pytestmark = [pytest.mark.peers, pytest.mark.timeout(90)]


async def test_changed_line_reregisters_and_the_other_keeps_its_call(
    kamailio: Kamailio, baresip_factory: Callable[..., Baresip], tone_wav: Callable[..., Path]
) -> None:
    far = baresip_phone(baresip_factory, kamailio, "1003", tone_wav(1000))
    proxy = f"{kamailio.host}:{kamailio.port}"
    config = Config(
        network=Network(local_port=free_port()),
        lines=[
            Line(proxy=proxy, user="1001", password=kamailio.users["1001"], dial_plan="(1xxx)"),
            Line(proxy=proxy, user="1002", password=kamailio.users["1002"], dial_plan="(1xxx)"),
        ],
    )
    daemon = Daemon(
        config, sip_calls, options=DaemonOptions(api_port=0, freeze_gc=False, admin_listen="")
    )
    await daemon.start()
    try:
        phone = daemon.phone(1)
        assert phone is not None
        assert await phone.wait_for(lambda: bool(kamailio.contacts("1002")), 5.0)
        phone.off_hook()
        await phone.wait_for(lambda: False, 0.4)
        await phone.dtmf_dial("1003")
        assert await phone.wait_for(lambda: daemon.ports[0].machine.state.value == "connected", 8.0)
        media = daemon.calls.media(daemon.ports[0].machine.call_id)  # type: ignore[union-attr]
        assert media is not None
        before = media.rtp.stats().packets_received

        lines = list(config.lines)
        lines[1] = msgspec.structs.replace(lines[1], user="1004", password=kamailio.users["1004"])
        await daemon.apply_config(msgspec.structs.replace(config, lines=lines), save=False)

        assert await phone.wait_for(lambda: bool(kamailio.contacts("1004")), 5.0)
        assert kamailio.contacts("1002") == []  # the old account un-registered
        await phone.wait_for(lambda: False, 1.0)
        assert daemon.ports[0].machine.state.value == "connected"  # line 1 kept its call
        assert media.rtp.stats().packets_received > before + 30  # and audio kept flowing
        tones = [round(t.freq_hz) for t in phone.dominant_tones(0.4)]
        assert any(abs(f - 1000) < 10 for f in tones), tones
        await in_thread(far.command, "hangup")
        assert await phone.wait_for(
            lambda: daemon.ports[0].machine.state.value == "disconnected", 5.0
        )
        phone.on_hook()
    finally:
        await daemon.stop()


async def test_changed_call_settings_reach_the_next_call_without_registering_again() -> None:
    """Standalone (embedded registrar): line 1's jitter buffer, phase alignment and display
    name change; its registration is kept, and the next call uses the new settings."""
    from ata.media.jitter import JitterMode
    from ata.runtime.demo import demo_config
    from provisioning.schema import JitterBuffer

    config = demo_config()
    options = DaemonOptions(
        api_port=None,
        admin_listen="",
        freeze_gc=False,
        registrar_port=free_port(),
        registrar_host="127.0.0.1",
    )
    daemon = Daemon(config, sip_calls, options=options)
    await daemon.start()
    try:
        manager = daemon.calls.manager  # type: ignore[union-attr]
        phone1, phone2 = daemon.phone(1), daemon.phone(2)
        assert phone1 is not None and phone2 is not None
        assert await phone1.wait_for(
            lambda: all(line is not None and line.registration for line in manager.lines), 8.0
        )
        registration = manager.lines[0].registration
        lines = list(config.lines)
        lines[0] = msgspec.structs.replace(
            lines[0],
            display_name="Kitchen",
            jitter_buffer=JitterBuffer(mode="minimum", phase_alignment=False),
        )
        await daemon.apply_config(msgspec.structs.replace(config, lines=lines), save=False)
        assert manager.lines[0].registration is registration  # not registered again
        assert manager.lines[0].agent.config.display_name == "Kitchen"

        phone1.off_hook()
        await phone1.wait_for(lambda: False, 0.5)
        await phone1.dtmf_dial("1002")
        assert await phone2.wait_for(lambda: phone2.ringing, 8.0)
        assert await phone2.wait_for(lambda: bool(phone2.caller_ids), 8.0)  # after ring 1
        assert phone2.caller_ids[-1].name == "Kitchen"
        phone2.off_hook()
        assert await phone1.wait_for(
            lambda: daemon.ports[0].machine.state.value == "connected", 8.0
        )
        media = daemon.calls.media(daemon.ports[0].machine.call_id)  # type: ignore[union-attr]
        assert media is not None
        session = media.rtp.media
        assert session.jitter.config.mode is JitterMode.MINIMUM
        assert not session.aligner.active
        # Line 2 kept its defaults.
        other = daemon.calls.media(daemon.ports[1].machine.call_id)  # type: ignore[union-attr]
        assert other is not None and other.rtp.media.jitter.config.mode is JitterMode.ADAPTIVE
    finally:
        await daemon.stop()
