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
