"""Configured line settings reach the line state machine and the hook classifier."""

from __future__ import annotations

from ata.line.port import FlashMode
from ata.line.ringer import CallerIdTiming
from ata.runtime.daemon import hook_windows, port_settings
from ata.runtime.port_dsp import CallerIdMethod, CountryDsp
from hal.hook import DigitCoding
from provisioning.schema import HookFlash, Line, PulseDialing


def test_line_config_maps_to_port_settings_and_hook_windows() -> None:
    line = Line(
        dial_plan="(1xxx|911S0)",
        ring_cadence="60(.8/.4,.8/4)",
        hook_flash=HookFlash(min_ms=150, max_ms=700, action="relay"),
        pulse_dialing=PulseDialing(coding="sweden"),
        polarity_reversal=True,
        disconnect_ms=600,
        caller_id="v23",
    )
    dsp = CountryDsp(country="de", cid_method=CallerIdMethod(line.caller_id))
    settings = port_settings(line, dsp)
    assert settings.dial_plan.text == "(1xxx|911S0)"
    assert settings.ring_cadence == ((0.8, 0.4), (0.8, 4.0))
    assert settings.flash_mode is FlashMode.RELAY
    assert settings.polarity_on_answer is True
    assert settings.cpc_on_far_hangup_s == 0.6
    assert settings.caller_id_timing is CallerIdTiming.BEFORE_RING
    assert 0.3 < settings.caller_id_burst_s < 1.5
    windows = hook_windows(line)
    assert (windows.flash_min_s, windows.flash_max_s) == (0.15, 0.7)
    assert windows.coding is DigitCoding.SWEDEN


def test_flash_transfer_mode_and_mwi_account() -> None:
    from ata.runtime.calls_config import account_for

    line = Line(
        proxy="pbx.example.com",
        user="1001",
        mwi_subscribe=True,
        mwi_uri="sip:*97@pbx.example.com",
        hook_flash=HookFlash(action="transfer"),
    )
    assert port_settings(line, CountryDsp()).flash_mode is FlashMode.TRANSFER
    account = account_for(line)
    assert account is not None
    assert (account.mwi_subscribe, account.mwi_uri) == (True, "sip:*97@pbx.example.com")


def test_defaults_ignore_flash_and_keep_polarity() -> None:
    settings = port_settings(Line(), CountryDsp())
    assert settings.flash_mode is FlashMode.IGNORE
    assert settings.polarity_on_answer is False
    assert settings.cpc_on_far_hangup_s == 0.0
    assert settings.caller_id_timing is CallerIdTiming.AFTER_FIRST_RING
