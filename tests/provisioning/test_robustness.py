"""Robustness: arbitrary profile bytes only ever yield a ProvisioningError (never a crash), the
asyncio driver loop serves triggers, and the SPA mapping table is documented."""

from __future__ import annotations

import asyncio
import gzip
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioning.driver import Provisioner
from provisioning.macros import DeviceInfo
from provisioning.profile import ProvisioningError, parse_profile
from provisioning.profile_rule import ProfileRule
from provisioning.resync import Cause
from provisioning.schema import Config
from provisioning.spa_xml import ALL_LINES_PARAMS, GLOBAL_PARAMS, LINE_PARAMS, LINE_TO_GLOBAL
from provisioning.status import load_status
from provisioning.store import load_config, save_config
from provisioning.validate import config_from_data

ROOT = Path(__file__).resolve().parents[2]
BASE = Config()

xml_names = st.sampled_from(
    ["Proxy_1_", "User_ID_2_", "Register_Expires_1_", "Line_Enable_1_", "Resync_Periodic",
     "Hook_Flash_Timer_Max", "Dial_Tone", "Preferred_Codec_1_", "X", "flat-profile"]
)  # fmt: skip


@st.composite
def xml_profiles(draw: st.DrawFn) -> bytes:
    items = draw(st.lists(st.tuples(xml_names, st.text(max_size=30)), max_size=8))
    body = "".join(f"<{n}>{v.replace('&', '&amp;').replace('<', '&lt;')}</{n}>" for n, v in items)
    return f"<flat-profile>{body}</flat-profile>".encode("utf-8", "surrogatepass")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=300),
        st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
        xml_profiles(),
        xml_profiles().map(gzip.compress),
        st.binary(max_size=200).map(lambda b: b"Salted__" + b),
    ),
    st.booleans(),
)
def test_any_bytes_give_a_config_or_a_provisioning_error(body: bytes, keyed: bool) -> None:
    rule = ProfileRule("http://x/p", key="k" if keyed else None)
    error: ProvisioningError | None = None
    try:
        parsed = parse_profile(BASE, body, rule)
    except ProvisioningError as exc:
        error = exc
    if error is not None:
        assert error.stage in ("decrypt", "parse", "validate")
        assert error.reason
    else:
        assert isinstance(parsed.config, Config)


async def test_driver_loop_serves_manual_trigger(tmp_path: Path) -> None:
    profile = tmp_path / "profile.toml"
    profile.write_text('[[lines]]\nproxy = "pbx.lan"\nuser = "10"\n')
    config = tmp_path / "config.toml"
    save_config(
        config_from_data(
            {"provisioning": {"profile_rules": [f"file://{profile}"], "resync_on_boot": False,
                              "resync_periodic_s": 0}}
        ),
        config,
    )  # fmt: skip
    applied = asyncio.Event()

    async def on_applied(_config: Config, _diff: object) -> None:
        applied.set()

    prov = Provisioner(
        config_path=config,
        status_path=tmp_path / "status.json",
        device=DeviceInfo(mac="00:11:22:33:44:55"),
        on_applied=on_applied,
    )
    task = asyncio.create_task(prov.run())
    await asyncio.sleep(0.05)
    assert not applied.is_set()  # nothing due: no boot fetch, no periodic
    prov.request_resync(Cause.MANUAL)
    await asyncio.wait_for(applied.wait(), 5)
    prov.stop()
    await asyncio.wait_for(task, 5)
    assert load_config(config).lines[0].proxy == "pbx.lan"
    status = load_status(tmp_path / "status.json")
    assert (status.outcome, status.cause) == ("applied", "manual")


def test_spa_mapping_is_documented() -> None:
    doc = (ROOT / "docs" / "provisioning.md").read_text()
    names = [*LINE_PARAMS, *LINE_TO_GLOBAL]
    for name in names:
        assert f"`{name}_n_`" in doc, name
    for name in [*ALL_LINES_PARAMS, *GLOBAL_PARAMS]:
        assert f"`{name}`" in doc, name


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["lines", "proxy", "registration", "expires", "device", "x", "users"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_validator_never_raises_on_arbitrary_data(data: object) -> None:
    from provisioning.validate import validate_data

    config, errors = validate_data(data)
    assert (config is None) == bool(errors)
