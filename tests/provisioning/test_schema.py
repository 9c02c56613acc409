"""Schema validation: every error with its path, unknown keys with suggestions, generated docs."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ata.cli import main as ata_main
from provisioning.docgen import render_reference
from provisioning.schema import Config, to_data
from provisioning.validate import config_from_data, validate_data

ROOT = Path(__file__).resolve().parents[2]


def errors_of(data: object) -> list[str]:
    config, errors = validate_data(data)
    assert (config is None) == bool(errors)
    return [str(e) for e in errors]


def test_defaults_are_valid_and_round_trip() -> None:
    data = to_data(Config())
    assert errors_of(data) == []
    assert config_from_data(data) == Config()
    assert config_from_data({}) == Config()


def test_every_error_is_reported_with_path_and_reason() -> None:
    data = {
        "device": {"countr": "de", "name": "bad name"},
        "network": {"transport": "sctp", "local_port": 70000},
        "lines": [
            {"proxy": "sip.example.com", "user": "alice"},
            {
                "registration": {"expires": 5},
                "dtmf_mode": "rfc2833",
                "codecs": ["PCMU", "PCMU"],
                "password": 1234,
                "passwrd": "x",
                "gains": {"tx_db": 20},
                "dial_plan": "(xx|[2-9",
                "ring_cadence": "2 on 4 off",
            },
        ],
        "provisioning": {"resync_at": "2561", "profile_rules": ["[--key] http://x/"]},
        "admin": {"listen": "http://0.0.0.0"},
        "bogus": {},
    }
    got = errors_of(data)
    expected = [
        "device.countr: unknown key, did you mean 'country'?",
        "network.transport: must be one of 'tcp', 'tls', 'udp', got 'sctp'",
        "network.local_port: must be 1..65535, got 70000",
        "lines[1].passwrd: unknown key, did you mean 'password'?",
        "lines[1].password: must be a string, got <redacted>",
        "lines[1].registration.expires: must be 60..86400, got 5",
        "lines[1].dtmf_mode: must be one of 'inband', 'info', 'rfc4733', got 'rfc2833' "
        "(did you mean 'rfc4733'?)",
        "lines[1].codecs: entries must not repeat",
        "lines[1].gains.tx_db: must be -12.0..12.0, got 20",
        "provisioning.resync_at: must be HHmm (0000..2359) or empty, got '2561'",
        "bogus: unknown key",
    ]
    for message in expected:
        assert message in got, f"missing {message!r} in {got}"
    assert any(e.startswith("device.name: must match") for e in got)
    assert any(e.startswith("lines[1].dial_plan: unclosed '['") for e in got)
    assert any(e.startswith("lines[1].ring_cadence: must be a ToneScript cadence") for e in got)
    assert any(e.startswith("provisioning.profile_rules[0]: option --key needs") for e in got)
    assert any(e.startswith("admin.listen: give host[:port] without a URI scheme") for e in got)
    assert "1234" not in " ".join(got)  # secret values are never echoed


def test_cross_field_rules() -> None:
    got = errors_of(
        {
            "lines": [{"proxy": "pbx.lan", "hook_flash": {"min_ms": 500, "max_ms": 400}}],
            "registrar": {"users": [{"user": "a", "port": 3}, {"user": "a"}]},
            "provisioning": {"client_key_file": "/k.pem"},
        }
    )
    assert got == [
        "lines[0].hook_flash.max_ms: must be above min_ms (500), got 400",
        "lines[0].user: required when a proxy is set",
        "registrar.users[0].port: there are only 1 lines, got 3",
        "registrar.users[1].user: duplicate user",
        "provisioning.client_key_file: needs client_cert_file",
    ]


def test_required_and_type_errors() -> None:
    assert errors_of({"registrar": {"users": [{"password": "x"}]}}) == [
        "registrar.users[0].user: required key missing"
    ]
    assert errors_of({"lines": []}) == ["lines: must have at least 1 entries, got 0"]
    assert errors_of({"lines": {"proxy": "x"}}) == ["lines: must be a list, got a table"]
    assert errors_of({"security": {"restrict_source_to_proxy": "yes"}}) == [
        "security.restrict_source_to_proxy: must be true or false, got 'yes'"
    ]
    assert errors_of([]) == ["must be a table, got a list"]


def test_optional_dial_plan_parser_is_used() -> None:
    def strict(plan: str) -> object:
        if "|" not in plan:
            raise ValueError("dial plan error at column 1: needs two rules\n...")
        return plan

    config, errors = validate_data({"lines": [{"dial_plan": "(xx)"}]}, dial_plan_parser=strict)
    assert config is None
    assert [str(e) for e in errors] == [
        "lines[0].dial_plan: dial plan error at column 1: needs two rules"
    ]


@settings(max_examples=60, deadline=None)
@given(expires=st.integers(min_value=-(10**6), max_value=10**6), index=st.integers(0, 3))
def test_expiry_range_property(expires: int, index: int) -> None:
    lines: list[dict[str, object]] = [{} for _ in range(index + 1)]
    lines[index] = {"registration": {"expires": expires}}
    got = errors_of({"lines": lines})
    if 60 <= expires <= 86400:
        assert got == []
        config = config_from_data({"lines": lines})
        assert config.lines[index].registration.expires == expires
    else:
        assert got == [f"lines[{index}].registration.expires: must be 60..86400, got {expires}"]


@settings(max_examples=40, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "device": st.fixed_dictionaries({}, optional={"name": st.text(max_size=70)}),
            "lines": st.lists(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "proxy": st.text(max_size=20),
                        "user": st.text(max_size=10),
                        "gains": st.fixed_dictionaries({"rx_db": st.floats(allow_nan=True)}),
                        "codecs": st.lists(st.sampled_from(["PCMU", "PCMA", "G729"]), max_size=3),
                    },
                ),
                max_size=3,
            ),
        },
    )
)
def test_validator_agrees_with_msgspec(data: dict[str, object]) -> None:
    """Whatever the walker accepts, msgspec converts; whatever it refuses has a reason."""
    config, errors = validate_data(data)
    if config is not None:
        assert msgspec.convert(data, Config) == config
    else:
        assert errors
        assert all(e.reason for e in errors)


def test_committed_reference_matches_the_generator() -> None:
    committed = (ROOT / "docs" / "configuration.md").read_text()
    assert committed == render_reference(), "regenerate: ata config schema > docs/configuration.md"


def test_reference_documents_every_field() -> None:
    text = render_reference()
    for field in ("registration", "expires", "dial_plan", "error_retry_delays_s", "password_hash"):
        assert f"`{field}`" in text
    assert "60..86400" in text


def run_cli(args: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = ata_main(args)
    return code, out.getvalue()


def test_cli_config_check(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[lines]]\nproxy = "pbx"\nuser = "a"\n[[lines]]\nregistration = {expires = 5}\n'
    )
    code, out = run_cli(["config", "check", str(bad)])
    assert code == 1
    assert f"{bad}: lines[1].registration.expires: must be 60..86400, got 5" in out
    good = tmp_path / "good.json"
    good.write_text('{"lines": [{"proxy": "pbx", "user": "a"}]}')
    assert run_cli(["config", "check", str(good)]) == (0, f"{good}: OK\n")


def test_cli_config_check_uses_the_full_dial_plan_grammar(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[[lines]]\ndial_plan = "(x<5>)"\n')
    code, out = run_cli(["config", "check", str(path)])
    assert code == 1
    assert "lines[0].dial_plan: dial plan error at column 3: substitution needs" in out


def test_cli_config_check_spa_xml(tmp_path: Path) -> None:
    xml = tmp_path / "spa.xml"
    xml.write_text(
        "<flat-profile><Proxy_1_>pbx</Proxy_1_><User_ID_1_>7</User_ID_1_>"
        "<Register_Expires_1_>5</Register_Expires_1_></flat-profile>"
    )
    code, out = run_cli(["config", "check", str(xml)])
    assert code == 1
    assert f"{xml}: lines[0].registration.expires: must be 60..86400, got 5" in out
    xml.write_text("<!DOCTYPE x [<!ENTITY a 'b'>]><flat-profile/>")
    code, out = run_cli(["config", "check", str(xml)])
    assert code == 1
    assert "DOCTYPE" in out


@settings(max_examples=40, deadline=None)
@given(
    name=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True),
    expires=st.integers(60, 86400),
    gain=st.floats(-12, 12, allow_nan=False),
    display=st.text(max_size=64),
    rules=st.lists(
        st.from_regex(r"https://[a-z]{1,8}\.example/[a-z$]{0,10}", fullmatch=True), max_size=3
    ),
)
def test_toml_round_trip_property(
    name: str, expires: int, gain: float, display: str, rules: list[str]
) -> None:
    from provisioning.store import encode_toml, parse_toml

    config = config_from_data(
        {
            "device": {"name": name},
            "lines": [
                {
                    "registration": {"expires": expires},
                    "gains": {"rx_db": gain},
                    "display_name": display,
                }
            ],
            "provisioning": {"profile_rules": rules},
        }
    )
    assert config_from_data(parse_toml(encode_toml(config))) == config


def test_cli_config_show_masks_secrets(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[[lines]]\nproxy = "pbx"\nuser = "a"\npassword = "hunter22"\n')
    code, out = run_cli(["config", "show", "--config", str(path)])
    assert code == 0
    assert "hunter22" not in out
    assert 'proxy = "pbx"' in out
    code, out = run_cli(["config", "show", "--config", str(path), "--json", "--show-secrets"])
    assert code == 0
    assert "hunter22" in out
    code, out = run_cli(["config", "schema"])
    assert code == 0
    assert out == render_reference()


def test_cli_admin_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from provisioning.passwords import verify_password
    from provisioning.store import load_config

    path = tmp_path / "c.toml"
    path.write_text('[[lines]]\nproxy = "pbx"\nuser = "a"\npassword = "keep-me"\n')
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert run_cli(["config", "admin-password", "--config", str(path), "--stdin"])[0] == 1
    monkeypatch.setattr("sys.stdin", io.StringIO("a much better password\n"))
    code, out = run_cli(["config", "admin-password", "--config", str(path), "--stdin"])
    assert code == 0
    assert out == f"{path}: admin password set\n"
    config = load_config(path)
    assert verify_password("a much better password", config.admin.password_hash)
    assert config.lines[0].password == "keep-me"
