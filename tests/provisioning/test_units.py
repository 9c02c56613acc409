"""Units: macros, profile rules, OpenSSL decryption details, SPA XML mapping/safety, DHCP leases,
config diffs."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from provisioning.crypto import (
    ProfileDecodeError,
    bytes_to_key,
    decode_profile_bytes,
    decrypt_profile,
    derive_key_iv,
    gunzip_capped,
)
from provisioning.dhcp import (
    discover_url,
    option_to_url,
    parse_dhclient_leases,
    parse_dhcp_message,
    parse_key_value_lease,
    parse_lease,
)
from provisioning.diff import diff_configs
from provisioning.macros import DeviceInfo, expand
from provisioning.profile_rule import ProfileRuleError, parse_profile_rule
from provisioning.schema import Config
from provisioning.spa_xml import FlatProfileError, apply_flat_profile, parse_flat_profile
from provisioning.validate import config_from_data

# -- macros (examples from the Cisco SPA provisioning guide) -----------------------------------
CISCO = DeviceInfo(mac="00:0E:08:01:23:45", user_vars={"A": "ABCDEF"}, product="SPA2102")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("spa$(MAU)config.cfg", "spa000E08012345config.cfg"),
        ("spa$STRANGE$MAU.cfg", "spa$STRANGE000E08012345.cfg"),
        ("$(MAU:4)", "08012345"),
        ("$(MAU:8:2)", "23"),
        ("$(A:2)", "CDEF"),
        ("$(A:2:3)", "CDE"),
        ("$$MAU", "$MAU"),
        ("/p/$MA.cfg", "/p/000e08012345.cfg"),
        ("/p/$MAC", "/p/00:0e:08:01:23:45"),
        ("$PN-$(STRANGE:1)", "SPA2102-$(STRANGE:1)"),
        ("$(MA:20)", ""),
    ],
)
def test_macro_expansion(text: str, expected: str) -> None:
    assert expand(text, CISCO.variables()) == expected


def test_bad_mac_is_refused() -> None:
    with pytest.raises(ValueError, match="MAC"):
        DeviceInfo(mac="00:11:22").variables()


def test_profile_rule_parsing() -> None:
    rule = parse_profile_rule('[--key "two words" --kdf md5] https://h/$MA.xml')
    assert rule.url == "https://h/$MA.xml"
    assert rule.key == "two words"
    assert rule.kdf == "md5"
    assert "two words" not in repr(rule)
    assert parse_profile_rule("prov.example.com/a.cfg").url == "http://prov.example.com/a.cfg"
    assert parse_profile_rule("[--key $SA] file:///x").key == "$SA"
    for bad in ("", "[--key", "[--key] http://x", "ftp://x/y", "[--color red] http://x", "a b"):
        with pytest.raises(ProfileRuleError):
            parse_profile_rule(bad)
    with pytest.raises(ProfileRuleError) as info:
        parse_profile_rule("[--key VerySecret --kdf sha1] http://x")
    assert "VerySecret" not in str(info.value)


# -- crypto --------------------------------------------------------------------------------------
def _openssl() -> str:
    path = shutil.which("openssl")
    if path is None:
        pytest.skip("openssl not installed")
    return path


@pytest.mark.parametrize("md", ["md5", "sha256"])
def test_bytes_to_key_matches_openssl(md: str) -> None:
    out = subprocess.run(
        [_openssl(), "enc", "-aes-256-cbc", "-k", "pass phrase", "-S", "0102030405060708",
         "-md", md, "-P"],
        input="", capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    fields = {k.strip(): v.strip() for k, _, v in (ln.partition("=") for ln in out.splitlines())}
    derived = bytes_to_key(b"pass phrase", bytes.fromhex("0102030405060708"), md)
    assert derived[:32].hex().upper() == fields["key"]
    assert derived[32:].hex().upper() == fields["iv"]


def test_pbkdf2_iterations_matches_openssl() -> None:
    out = subprocess.run(
        [_openssl(), "enc", "-aes-256-cbc", "-k", "k", "-S", "0011223344556677", "-pbkdf2",
         "-iter", "1234", "-P"],
        input="", capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    fields = {k.strip(): v.strip() for k, _, v in (ln.partition("=") for ln in out.splitlines())}
    derived = derive_key_iv(b"k", bytes.fromhex("0011223344556677"), "pbkdf2", 1234)
    assert derived.hex().upper() == fields["key"] + fields["iv"]
    data = subprocess.run(
        [_openssl(), "enc", "-e", "-aes-256-cbc", "-k", "k", "-pbkdf2", "-iter", "1234"],
        input=b"a = 1\n", capture_output=True, check=True,
    ).stdout  # fmt: skip
    with pytest.raises(ProfileDecodeError):
        decrypt_profile(data, "k")  # default 10000 iterations: wrong
    assert decrypt_profile(data, "k", iterations=1234) == (b"a = 1\n", "pbkdf2")


def test_key_presence_must_match_the_file() -> None:
    with pytest.raises(ProfileDecodeError, match="no --key"):
        decode_profile_bytes(b"Salted__" + bytes(24), key=None)
    with pytest.raises(ProfileDecodeError, match="not encrypted"):
        decode_profile_bytes(b"a = 1", key="k")
    assert decode_profile_bytes(gzip.compress(b"a = 1"), key=None) == b"a = 1"


def test_gzip_bomb_and_truncation_refused() -> None:
    bomb = gzip.compress(bytes(50 << 20))
    assert len(bomb) < 100_000
    with pytest.raises(ProfileDecodeError, match="inflates to more than"):
        gunzip_capped(bomb)
    with pytest.raises(ProfileDecodeError, match="truncated"):
        gunzip_capped(gzip.compress(b"x" * 5000)[:-20])
    with pytest.raises(ProfileDecodeError, match="corrupt"):
        gunzip_capped(b"\x1f\x8b" + b"garbage" * 10)


# -- SPA XML -------------------------------------------------------------------------------------
SPA = b"""<flat-profile>
  <Proxy_2_ ua="na">pbx.example.org</Proxy_2_>
  <User_ID_2_>200</User_ID_2_>
  <Auth_ID_2_>auth200</Auth_ID_2_>
  <Display_Name_2_>Two</Display_Name_2_>
  <Line_Enable_1_>No</Line_Enable_1_>
  <DTMF_Tx_Method_2_>InBand</DTMF_Tx_Method_2_>
  <Preferred_Codec_2_>G711a</Preferred_Codec_2_>
  <SIP_Transport_2_>TLS</SIP_Transport_2_>
  <Hook_Flash_Timer_Min>.2</Hook_Flash_Timer_Min>
  <Hook_Flash_Timer_Max>.8</Hook_Flash_Timer_Max>
  <Caller_ID_Method>ETSI FSK</Caller_ID_Method>
  <Resync_Random_Delay>3</Resync_Random_Delay>
  <Resync_Error_Retry_Delay>1800,3600,7200,14400+3600</Resync_Error_Retry_Delay>
  <Resync_From_SIP>No</Resync_From_SIP>
  <Profile_Rule>https://prov/a.cfg</Profile_Rule>
  <Profile_Rule_B>[--key k] https://prov/b.cfg</Profile_Rule_B>
  <Profile_Rule_C>/spa$PSN.cfg</Profile_Rule_C>
  <Admin_Passwd>x</Admin_Passwd>
  <Dial_Tone>350@-19,440@-19;10(*/0/1+2)</Dial_Tone>
  <MWI_Dial_Tone>350@-19,440@-19;2(.1/.1/1+2);10(*/0/1+2)</MWI_Dial_Tone>
  <Ring_Waveform>Trapezoid</Ring_Waveform>
  <Ring_Frequency>25</Ring_Frequency>
</flat-profile>"""


def test_spa_mapping() -> None:
    params = parse_flat_profile(SPA)
    base = {"lines": [{}, {}]}
    data, ignored = apply_flat_profile(base, params)
    config = config_from_data(data)
    one, two = config.lines
    assert one.enabled is False
    assert two.proxy == "pbx.example.org"
    assert (two.user, two.auth_user, two.display_name) == ("200", "auth200", "Two")
    assert two.dtmf_mode == "inband"
    assert two.codecs == ["PCMA", "PCMU"]
    assert config.network.transport == "tls"
    assert (one.hook_flash.min_ms, one.hook_flash.max_ms) == (200, 800)
    assert two.hook_flash.max_ms == 800
    assert two.caller_id == "v23"
    assert config.provisioning.resync_random_delay_s == 60
    assert config.provisioning.error_retry_delays_s == [1800, 3600, 7200, 14400]
    assert config.provisioning.resync_from_sip is False
    assert config.provisioning.profile_rules == [
        "https://prov/a.cfg",
        "[--key k] https://prov/b.cfg",
    ]
    assert ignored == ["Admin_Passwd", "Profile_Rule_C"]
    assert config.tones.dial == "350@-19,440@-19;10(*/0/1+2)"
    assert config.tones.stutter.startswith("350@-19,440@-19;2(.1/.1/1+2)")
    assert config.tones.busy == ""  # not given: the country tone set applies
    assert (config.ring.waveform, config.ring.frequency_hz) == ("trapezoid", 25)
    assert base == {"lines": [{}, {}]}  # the input is not modified


def test_spa_bad_values_reported_with_pi_ata_path() -> None:
    data, _ = apply_flat_profile({}, parse_flat_profile(
        b"<flat-profile><Register_Expires_1_>soon</Register_Expires_1_></flat-profile>"
    ))  # fmt: skip
    with pytest.raises(ValueError, match=r"lines\[0\].registration.expires: must be an integer"):
        config_from_data(data)


@pytest.mark.parametrize(
    ("xml", "match"),
    [
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
         b"<flat-profile><Proxy_1_>&b;</Proxy_1_></flat-profile>", "DOCTYPE"),
        (b'<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
         b"<flat-profile><Proxy_1_>&xxe;</Proxy_1_></flat-profile>", "DOCTYPE"),
        (b'<!DOCTYPE flat-profile SYSTEM "http://evil/x.dtd"><flat-profile/>', "DOCTYPE"),
        (b"<flat-profile><Proxy_1_>x</flat-profile>", "malformed"),
        (b"<html><Proxy_1_>x</Proxy_1_></html>", "root element"),
        (b"<flat-profile>" + b"<a>" * 20 + b"</a>" * 20 + b"</flat-profile>", "nested"),
        (b"<flat-profile><Proxy_1_>&undefined;</Proxy_1_></flat-profile>", "malformed"),
    ],
)  # fmt: skip
def test_unsafe_or_malformed_xml_refused(xml: bytes, match: str) -> None:
    with pytest.raises(FlatProfileError, match=match):
        parse_flat_profile(xml)


def test_billion_laughs_refused_quickly() -> None:
    entities = "".join(
        f'<!ENTITY l{i} "{"".join(f"&l{i - 1};" for _ in range(10))}">' for i in range(1, 10)
    )
    bomb = f'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY l0 "ha">{entities}]>'
    bomb += "<flat-profile><Proxy_1_>&l9;</Proxy_1_></flat-profile>"
    with pytest.raises(FlatProfileError, match="DOCTYPE"):
        parse_flat_profile(bomb.encode())


def test_device_wrapper_accepted() -> None:
    xml = b"<device><flat-profile><Proxy_1_>a.example</Proxy_1_></flat-profile></device>"
    assert parse_flat_profile(xml) == {"Proxy_1_": "a.example"}


# -- DHCP leases -----------------------------------------------------------------------------------
DHCLIENT = """
lease {
  interface "eth0";
  fixed-address 192.168.1.50;
  option subnet-mask 255.255.255.0;
  option tftp-server-name "old.example.com";
  renew 2 2026/11/24 10:00:00;
}
lease {
  interface "eth0";
  fixed-address 192.168.1.50;
  option subnet-mask 255.255.255.0;
  option routers 192.168.1.1;
  option tftp-server-name "192.168.1.10";
  option unknown-160 68:74:74:70:73:3a:2f:2f:70:72:6f:76:2e:6c:61:6e:2f:61:74:61:2f;
  renew 2 2026/11/24 12:00:00;
}
"""

DHCPCD_DUMP = """broadcast_address='192.168.1.255'
dhcp_lease_time='86400'
dhcp_server_identifier='192.168.1.1'
ip_address='192.168.1.50'
routers='192.168.1.1'
subnet_mask='255.255.255.0'
tftp_server_name='http://prov.lan/ata/'
"""

NM_INTERNAL = """# This is private data. Do not parse.
ADDRESS=192.168.1.50
NETMASK=255.255.255.0
ROUTER=192.168.1.1
SERVER_ADDRESS=192.168.1.1
OPTION_160=68747470733a2f2f70726f762e6578616d706c652e636f6d2f
"""


def dhcp_message(options: list[tuple[int, bytes]]) -> bytes:
    header = bytearray(236)
    header[0] = 2  # BOOTREPLY
    body = b"".join(bytes([code, len(value)]) + value for code, value in options)
    return bytes(header) + b"\x63\x82\x53\x63" + body + b"\xff"


def test_dhclient_last_lease_and_hex_option_160() -> None:
    assert parse_dhclient_leases(DHCLIENT) == {66: "192.168.1.10", 160: "https://prov.lan/ata/"}


def test_dhcpcd_dumplease_and_nm_key_value() -> None:
    assert parse_key_value_lease(DHCPCD_DUMP) == {66: "http://prov.lan/ata/"}
    assert parse_lease(NM_INTERNAL.encode()) == {160: "https://prov.example.com/"}


def test_dhcpcd_binary_lease_with_split_option() -> None:
    url = b"https://provisioning.example.com/" + b"x" * 250 + b"/"
    message = dhcp_message([(53, b"\x05"), (66, b"tftp.lan"), (160, url[:255]), (160, url[255:])])
    assert parse_dhcp_message(message) == {66: "tftp.lan", 160: url.decode()}
    assert parse_lease(message)[160] == url.decode()
    assert parse_dhcp_message(message[:250]) == {}  # truncated options: nothing invented


def test_option_to_url() -> None:
    assert option_to_url("192.168.1.10") == "http://192.168.1.10/pi-ata-$MA.cfg"
    assert option_to_url("https://p/ata/") == "https://p/ata/pi-ata-$MA.cfg"
    assert option_to_url("https://p/ata/$MA.xml") == "https://p/ata/$MA.xml"
    assert option_to_url("tftp://10.0.0.1/x") is None
    assert option_to_url("") is None


def test_discover_prefers_newest_file_and_option_160(tmp_path: Path) -> None:
    older = tmp_path / "dhclient.eth0.leases"
    older.write_text(DHCLIENT)
    newer = tmp_path / "eth0.lease"
    newer.write_bytes(dhcp_message([(66, b"http://new.lan/")]))
    os.utime(older, (1_000_000, 1_000_000))
    assert discover_url([older, newer]) == "http://new.lan/pi-ata-$MA.cfg"
    assert discover_url([older]) == "https://prov.lan/ata/pi-ata-$MA.cfg"
    assert discover_url([tmp_path / "missing"]) is None


# -- diffs ----------------------------------------------------------------------------------------
def test_analog_change_does_not_reregister() -> None:
    base = config_from_data({"lines": [{"proxy": "a", "user": "1"}, {"proxy": "a", "user": "2"}]})
    new = config_from_data(
        {
            "lines": [
                {"proxy": "a", "user": "1", "gains": {"rx_db": 3.0}, "dial_plan": "(xx)"},
                {"proxy": "a", "user": "2", "password": "new"},
            ]
        }
    )
    d = diff_configs(base, new)
    assert d.lines_changed == {0, 1}
    assert d.lines_to_reregister() == {1}
    assert d.lines_to_reconfigure() == {0}
    assert d.line_fields(0) == ("dial_plan", "gains.rx_db")


def test_diff_per_line_and_global() -> None:
    base = config_from_data({"lines": [{"proxy": "a", "user": "1"}, {"proxy": "a", "user": "2"}]})
    same = diff_configs(base, base)
    assert same.empty
    assert same.lines_to_reregister() == frozenset()

    second = config_from_data({"lines": [{"proxy": "a", "user": "1"}, {"proxy": "b", "user": "2"}]})
    d = diff_configs(base, second)
    assert d.lines_changed == {1}
    assert d.lines_to_reregister() == {1}  # line 0 keeps its registration and call
    assert d.lines_to_reconfigure() == frozenset()
    assert d.line_fields(1) == ("proxy",)
    assert d.sections == {"lines"}
    assert not d.restart_transport

    transport = config_from_data(
        {
            "network": {"transport": "tcp"},
            "lines": [{"proxy": "a", "user": "1"}, {"proxy": "a", "user": "2"}],
        }
    )
    d = diff_configs(base, transport)
    assert d.restart_transport
    assert d.lines_to_reregister(n_lines=2) == {0, 1}
    assert d.paths == ("network.transport",)

    grown = config_from_data({"lines": [{"proxy": "a", "user": "1"}]})
    d = diff_configs(base, grown)
    assert d.lines_removed == {1}
    assert diff_configs(grown, base).lines_added == {1}
    assert diff_configs(
        Config(), config_from_data({"security": {"rate_limit_per_s": 5}})
    ).sections == {"security"}


# -- admin password hashes -------------------------------------------------------------------------
def test_password_hashes() -> None:
    from provisioning.checks import check_password_hash
    from provisioning.passwords import hash_password, password_problem, verify_password

    stored = hash_password("a long passphrase", n=1024)
    assert check_password_hash(stored) is None
    assert verify_password("a long passphrase", stored)
    assert not verify_password("a long passphrasE", stored)
    assert hash_password("a long passphrase", n=1024) != stored  # salted
    for broken in ("", "scrypt$x$8$1$00$00", "scrypt$1024$8$1$zz$00", "md5$1$2$3$4$5",
                   "scrypt$1024$8$1$00$", "scrypt$4294967296$8$1$00$00"):  # fmt: skip
        assert not verify_password("x", broken), broken
    assert password_problem("short")
    assert password_problem(" padded password ")
    assert password_problem("good enough pass") is None
