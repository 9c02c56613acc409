"""End-to-end provisioning against a real aiohttp profile server on 127.0.0.1 (HTTP and HTTPS).

Covers: per-MAC profile by macro, conditional requests, periodic resync on a fake clock with a
real fetch, HTTPS with a test CA and a client certificate, refused certificates, encrypted
profiles made by the real ``openssl enc`` (MD5, SHA-256, PBKDF2, gzip), SPA XML, and
truncated/tampered/invalid profiles refused with the old config kept and the reason reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import io
import logging
import shutil
import subprocess
from pathlib import Path

import pytest

from ata.cli import main as ata_main
from provisioning.diff import ConfigDiff
from provisioning.driver import Provisioner
from provisioning.macros import DeviceInfo
from provisioning.resync import Cause
from provisioning.schema import Config
from provisioning.store import load_config, save_config
from provisioning.validate import config_from_data
from tests.provisioning.conftest import LOOPBACK, Pki, ProfileServer

MAC = "00:11:22:AA:BB:CC"
KEY = "Fleet-Key-7f3a9c"
PASSWORD = "Sup3r-S3cret-Passw0rd"

PROFILE_V1 = f"""
[[lines]]
proxy = "sip.example.com"
user = "alice"
password = "{PASSWORD}"
display_name = "Alice"
""".encode()

PROFILE_V2 = PROFILE_V1.replace(b'"Alice"', b'"Alice Kitchen"')


def make_config(tmp_path: Path, rules: list[str], **prov: object) -> Path:
    data: dict[str, object] = {"provisioning": {"profile_rules": rules, **prov}}
    path = tmp_path / "config.toml"
    save_config(config_from_data(data), path)
    return path


def make_provisioner(tmp_path: Path, config: Path, **kwargs: object) -> Provisioner:
    return Provisioner(
        config_path=config,
        status_path=tmp_path / "status.json",
        device=DeviceInfo(mac=MAC, serial="SN123", sw_version="0.1.0"),
        **kwargs,  # type: ignore[arg-type]
    )


def openssl_enc(plain: bytes, key: str, *args: str) -> bytes:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not installed")
    return subprocess.run(
        [openssl, "enc", "-e", "-aes-256-cbc", "-k", key, *args],
        input=plain,
        capture_output=True,
        check=True,
    ).stdout


async def test_per_mac_profile_fetched_by_macro(tmp_path: Path, http_server: ProfileServer) -> None:
    http_server.files["/ata/001122aabbcc.toml"] = PROFILE_V1
    config = make_config(tmp_path, [http_server.url("/ata/$MA.toml")])
    applied: list[tuple[Config, ConfigDiff]] = []
    prov = make_provisioner(tmp_path, config, on_applied=lambda c, d: applied.append((c, d)))

    result = await prov.run_once(Cause.BOOT)

    assert result.outcome == "applied", result.errors
    assert http_server.requests[0][0] == "/ata/001122aabbcc.toml"
    stored = load_config(config)
    assert stored.lines[0].proxy == "sip.example.com"
    assert stored.lines[0].password == PASSWORD
    assert applied
    assert applied[0][1].lines_changed == {0}
    assert "lines[0].proxy" in applied[0][1].paths

    # Second run: the server answers 304 to If-None-Match; nothing is re-applied.
    again = await prov.run_once(Cause.PERIODIC)
    assert again.outcome == "unchanged"
    assert http_server.requests[1][1].get("If-None-Match")
    assert len(applied) == 1


async def test_periodic_resync_applies_a_change_on_a_fake_clock(
    tmp_path: Path, http_server: ProfileServer
) -> None:
    http_server.files["/p.toml"] = PROFILE_V1
    config = make_config(
        tmp_path, [http_server.url("/p.toml")], resync_random_delay_s=0, resync_periodic_s=3600
    )
    now = [1_800_000_000.0]
    prov = make_provisioner(tmp_path, config, clock=lambda: now[0])
    prov.start()
    first = await prov.step(now[0])
    assert first is not None
    assert first.outcome == "applied"
    assert prov.scheduler.get_timer() == now[0] + 3600

    http_server.files["/p.toml"] = PROFILE_V2
    now[0] += 1000
    assert await prov.step(now[0]) is None  # not due yet: no request made
    assert len(http_server.requests) == 1

    now[0] += 2600
    second = await prov.step(now[0])
    assert second is not None
    assert second.outcome == "applied"
    assert second.diff is not None
    assert second.diff.paths == ("lines[0].display_name",)
    assert load_config(config).lines[0].display_name == "Alice Kitchen"


async def test_https_with_test_ca_and_client_certificate(
    tmp_path: Path, pki: Pki, start_server: object
) -> None:
    server: ProfileServer = await start_server(pki.server_cert, require_client=True)  # type: ignore[operator]
    server.files["/secure.toml"] = PROFILE_V1
    config = make_config(
        tmp_path,
        [server.url("/secure.toml")],
        ca_file=str(pki.ca_file),
        client_cert_file=str(pki.client_cert),
        client_key_file=str(pki.client_key),
    )
    result = await make_provisioner(tmp_path, config).run_once()
    assert result.outcome == "applied", result.errors
    assert any("ata-001122aabbcc" in s for s in server.client_subjects)


@pytest.mark.parametrize("which", ["rogue", "wrong_host", "system_store"])
async def test_bad_certificate_is_refused(
    tmp_path: Path, pki: Pki, start_server: object, which: str
) -> None:
    cert = {"rogue": pki.rogue_cert, "wrong_host": pki.wrong_host_cert}.get(which, pki.server_cert)
    server: ProfileServer = await start_server(cert)  # type: ignore[operator]
    server.files["/p.toml"] = PROFILE_V1
    ca = "" if which == "system_store" else str(pki.ca_file)
    config = make_config(tmp_path, [server.url("/p.toml")], ca_file=ca)
    before = config.read_bytes()
    result = await make_provisioner(tmp_path, config).run_once()
    assert result.outcome == "error"
    assert result.errors[0].stage == "download"
    assert "certificate" in result.errors[0].reason.lower()
    assert config.read_bytes() == before
    assert not server.requests  # the handshake failed before any request


@pytest.mark.parametrize(
    ("args", "compress"),
    [
        (("-md", "md5"), False),
        (("-md", "sha256"), False),
        (("-pbkdf2",), False),
        (("-pbkdf2", "-iter", "10000"), True),
        (("-md", "md5"), True),
    ],
)
async def test_encrypted_profile_made_by_openssl(
    tmp_path: Path, http_server: ProfileServer, args: tuple[str, ...], compress: bool
) -> None:
    plain = gzip.compress(PROFILE_V1) if compress else PROFILE_V1
    http_server.files["/enc.cfg"] = openssl_enc(plain, KEY, *args)
    config = make_config(tmp_path, [f'[--key "{KEY}"] ' + http_server.url("/enc.cfg")])
    result = await make_provisioner(tmp_path, config).run_once()
    assert result.outcome == "applied", result.errors
    assert load_config(config).lines[0].user == "alice"


async def test_spa_flat_profile_applied(tmp_path: Path, http_server: ProfileServer) -> None:
    http_server.files["/spa001122aabbcc.xml"] = b"""<?xml version="1.0"?>
<flat-profile>
  <Line_Enable_1_ ua="na">Yes</Line_Enable_1_>
  <Proxy_1_ ua="na">voip.example.net:5062</Proxy_1_>
  <User_ID_1_ ua="na">4930123456</User_ID_1_>
  <Password_1_ ua="na">pw123</Password_1_>
  <Register_Expires_1_ ua="na">600</Register_Expires_1_>
  <Dial_Plan_1_ ua="na">(*xx|[2-9]xxxxxxx|0xxxxxxxxx.)</Dial_Plan_1_>
  <Resync_Periodic ua="na">7200</Resync_Periodic>
  <Ring1_Cadence>60(1/4)</Ring1_Cadence>
  <Some_Unknown_Param>1</Some_Unknown_Param>
</flat-profile>
"""
    config = make_config(tmp_path, [http_server.url("/spa$MA.xml")])
    result = await make_provisioner(tmp_path, config).run_once()
    assert result.outcome == "applied", result.errors
    stored = load_config(config)
    assert stored.lines[0].proxy == "voip.example.net:5062"
    assert stored.lines[0].registration.expires == 600
    assert stored.lines[0].ring_cadence == "60(1/4)"
    assert stored.provisioning.resync_periodic_s == 7200
    status = (tmp_path / "status.json").read_text()
    assert "Some_Unknown_Param" in status
    assert "spa-xml" in status


async def _truncating_server() -> tuple[asyncio.Server, int]:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + PROFILE_V1[:40])
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, LOOPBACK, 0)
    return server, server.sockets[0].getsockname()[1]


def _tampered(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x55]) + data[middle + 1 :]


@pytest.mark.parametrize(
    ("kind", "stage", "reason_part"),
    [
        ("truncated_http", "download", "truncated"),
        ("truncated_enc", "decrypt", "truncated"),
        ("tampered_enc", "decrypt", "cannot decrypt"),
        ("wrong_key", "decrypt", "cannot decrypt"),
        ("invalid", "validate", "lines[0].registration.expires: must be 60..86400, got 5"),
        ("syntax", "parse", "TOML"),
        ("not_found", "download", "404"),
        ("xml_bomb", "parse", "DOCTYPE"),
    ],
)
async def test_bad_profiles_are_refused_and_old_config_kept(
    tmp_path: Path, http_server: ProfileServer, kind: str, stage: str, reason_part: str
) -> None:
    encrypted = openssl_enc(PROFILE_V2, KEY, "-pbkdf2")
    bodies = {
        "truncated_enc": encrypted[: len(encrypted) - 7],
        "tampered_enc": _tampered(encrypted),
        "wrong_key": openssl_enc(PROFILE_V2, "another-key", "-pbkdf2"),
        "invalid": PROFILE_V2 + b"[lines.registration]\nexpires = 5\n",
        "syntax": b"[lines\nproxy=",
        "xml_bomb": b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b"<flat-profile><Proxy_1_>&lol2;</Proxy_1_></flat-profile>",
    }
    truncating: asyncio.Server | None = None
    if kind == "truncated_http":
        truncating, port = await _truncating_server()
        url = f"http://{LOOPBACK}:{port}/p.cfg"
    else:
        url = http_server.url("/p.cfg")
        if kind != "not_found":
            http_server.files["/p.cfg"] = bodies[kind]
    keyed = kind in ("truncated_enc", "tampered_enc", "wrong_key")
    config = make_config(tmp_path, [(f"[--key {KEY}] " if keyed else "") + url])
    before_data = config.read_bytes()
    try:
        result = await make_provisioner(tmp_path, config).run_once()
    finally:
        if truncating is not None:
            truncating.close()
            await truncating.wait_closed()
    assert result.outcome == "error"
    assert result.errors[-1].stage == stage
    assert reason_part in result.errors[-1].reason
    assert config.read_bytes() == before_data  # nothing changed

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = await asyncio.to_thread(
            ata_main, ["provision", "status", "--status", str(tmp_path / "status.json")]
        )
    assert code == 1
    text = out.getvalue()
    assert f"failed stage:  {stage}" in text
    assert reason_part in text


async def test_secrets_never_logged(
    tmp_path: Path, http_server: ProfileServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    http_server.files["/good.cfg"] = openssl_enc(PROFILE_V1, KEY, "-md", "sha256")
    http_server.files["/bad.cfg"] = openssl_enc(
        PROFILE_V2 + b"[lines.registration]\nexpires = 5\n", KEY, "-pbkdf2"
    )
    config = make_config(tmp_path, [f"[--key {KEY}] " + http_server.url("/good.cfg")])
    prov = make_provisioner(tmp_path, config)
    assert (await prov.run_once()).outcome == "applied"
    save_config(
        config_from_data(
            {"provisioning": {"profile_rules": [f"[--key {KEY}] " + http_server.url("/bad.cfg")]}}
        ),
        config,
    )
    assert (await prov.run_once()).outcome == "error"
    # A wrong key and an unreachable server with credentials in the URL.
    save_config(
        config_from_data(
            {
                "provisioning": {
                    "profile_rules": [
                        f"[--key {KEY}x] " + http_server.url("/good.cfg"),
                        f"http://admin:{PASSWORD}@{LOOPBACK}:1/x.cfg",
                    ]
                }
            }
        ),
        config,
    )
    assert (await prov.run_once()).outcome == "error"
    logged = caplog.text
    assert "provisioning" in logged
    assert KEY not in logged
    assert PASSWORD not in logged
    status = (tmp_path / "status.json").read_text()
    assert KEY not in status
    assert PASSWORD not in status


async def test_check_sync_only_from_the_proxy(tmp_path: Path, http_server: ProfileServer) -> None:
    config = make_config(tmp_path, [http_server.url("/p.toml")], resync_on_boot=False)
    now = [1_800_000_000.0]
    prov = make_provisioner(
        tmp_path, config, clock=lambda: now[0], proxy_addresses=lambda: {"192.0.2.10"}
    )
    prov.start()
    assert prov.on_check_sync("198.51.100.7") is False
    assert prov.scheduler.poll(now[0]) is None
    assert prov.on_check_sync("192.0.2.10") is True
    assert prov.scheduler.get_timer() == now[0]
    http_server.files["/p.toml"] = PROFILE_V1
    result = await prov.step(now[0])
    assert result is not None
    assert result.outcome == "applied"

    off = make_config(tmp_path, [http_server.url("/p.toml")], resync_from_sip=False)
    assert make_provisioner(tmp_path, off).on_check_sync("192.0.2.10") is False


async def test_rules_tried_in_order_and_dhcp_discovery(
    tmp_path: Path, http_server: ProfileServer
) -> None:
    http_server.files["/b.toml"] = PROFILE_V1
    config = make_config(tmp_path, [http_server.url("/a.toml"), http_server.url("/b.toml")])
    result = await make_provisioner(tmp_path, config).run_once()
    assert result.outcome == "applied"
    assert [p for p, _ in http_server.requests] == ["/a.toml", "/b.toml"]

    # No rules: the URL comes from DHCP option 66 in a dhclient lease.
    lease = tmp_path / "dhclient.eth0.leases"
    lease.write_text(
        'lease {\n  interface "eth0";\n  fixed-address 192.0.2.50;\n'
        f'  option tftp-server-name "{http_server.base}/";\n}}\n'
    )
    http_server.files["/pi-ata-001122aabbcc.cfg"] = PROFILE_V2
    bare = tmp_path / "bare.toml"
    save_config(Config(), bare)
    prov = make_provisioner(tmp_path, bare, lease_paths=[lease])
    result = await prov.run_once()
    assert result.outcome == "applied", result.errors
    assert load_config(bare).lines[0].display_name == "Alice Kitchen"

    # Nothing anywhere: provisioning is disabled, the config untouched.
    none = make_provisioner(tmp_path, tmp_path / "fresh.toml", lease_paths=[])
    assert (await none.run_once()).outcome == "disabled"
    assert not (tmp_path / "fresh.toml").exists()


async def test_cli_provision_now(tmp_path: Path, http_server: ProfileServer) -> None:
    http_server.files["/ata/001122aabbcc.toml"] = PROFILE_V1
    config = make_config(tmp_path, [http_server.url("/ata/$MA.toml")])
    out = io.StringIO()
    args = ["provision", "now", "--config", str(config), "--status", str(tmp_path / "s.json"),
            "--mac", MAC]  # fmt: skip
    with contextlib.redirect_stdout(out):
        code = await asyncio.to_thread(ata_main, args)
    assert code == 0
    assert "applied" in out.getvalue()
    assert "lines[0].proxy" in out.getvalue()
    assert load_config(config).lines[0].user == "alice"


async def test_https_redirect_to_http_refused(
    tmp_path: Path, pki: Pki, https_server: ProfileServer, http_server: ProfileServer
) -> None:
    http_server.files["/plain.toml"] = PROFILE_V1
    https_server.redirects["/p.toml"] = http_server.url("/plain.toml")
    config = make_config(tmp_path, [https_server.url("/p.toml")], ca_file=str(pki.ca_file))
    before = config.read_bytes()
    result = await make_provisioner(tmp_path, config).run_once()
    assert result.outcome == "error"
    assert "redirected to plain HTTP" in result.errors[0].reason
    assert config.read_bytes() == before

    # A redirect that stays on HTTPS is followed.
    https_server.files["/real.toml"] = PROFILE_V1
    https_server.redirects["/p.toml"] = https_server.url("/real.toml")
    assert (await make_provisioner(tmp_path, config).run_once()).outcome == "applied"
