"""The daemon loads heavy libraries only for the configuration that needs them (memory: the
media issue's ≤ 60 MB with two calls; see ``bench/bench_memory.py`` for what each costs).

- aiohttp (~12 MB): only when the JSON API or the web admin gets its first connection (they
  listen from the start); profiles are downloaded without it;
- dnspython (~6 MB): only when a SIP next hop is a host name that needs RFC 3263 lookups (an IP
  literal or ``localhost`` does not);
- cryptography: only when an encrypted profile is decrypted.

Each case runs in a fresh interpreter (``sys.modules`` of this one is full of everything),
with the real daemon on the simulated board, started, registering and stopped, and each has a
control case showing the check does see the library when the configuration needs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from provisioning.web.ondemand import OnDemandSite, SiteState, parse_listen
from tests.peers import free_port

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("aiohttp", "dns", "cryptography")

DAEMON_SCRIPT = """
import asyncio, json, sys
from ata.runtime.daemon import Daemon, DaemonOptions
from ata.runtime.sip_calls import sip_calls
from provisioning.schema import Admin, Config, Line
from provisioning.passwords import hash_password

HEAVY = set(json.loads(sys.argv[2]))

def loaded():
    return sorted({m.split(".")[0] for m in sys.modules} & HEAVY)

async def get(port, path):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.0\\r\\nHost: 127.0.0.1\\r\\n\\r\\n".encode())
    status = (await reader.readline()).decode().strip()
    await reader.read()
    writer.close()
    return status

async def main(proxies, api_port, admin, fetch):
    lines = [Line(user=f"10{n:02d}", password="secret-pw", proxy=p) for n, p in enumerate(proxies)]
    admin_cfg = Admin(password_hash=hash_password("an admin pw", n=1024))  # no first-start
    config = Config(lines=lines, admin=admin_cfg)
    options = DaemonOptions(api_port=api_port, admin_listen=admin, freeze_gc=False)
    daemon = Daemon(config, sip_calls, options=options)
    await daemon.start()
    await asyncio.sleep(0.5)  # REGISTER goes out (the next hop is resolved)
    out = {"registrations": [st.get("registration") for st in daemon.status()["lines"]]}
    out["listening"] = loaded()
    if fetch:
        if api_port is not None:
            out["api"] = await get(daemon.api_port, "/api/status")
        if admin:
            out["admin"] = await get(int(admin.rsplit(":", 1)[1]), "/login")
    await daemon.stop()
    out["loaded"] = loaded()
    return out

print(json.dumps(asyncio.run(main(*json.loads(sys.argv[1])))))
"""


def _run(script: str, *args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _daemon(proxies: list[str], api_port: int | None, admin: str, fetch: bool) -> dict[str, object]:
    args = json.dumps([proxies, api_port, admin, fetch])
    return _run(DAEMON_SCRIPT, args, json.dumps(HEAVY))


def test_daemon_with_literal_proxies_and_untouched_api_and_admin_loads_none_of_them() -> None:
    port = free_port()
    admin = f"127.0.0.1:{free_port()}"
    result = _daemon([f"127.0.0.1:{port}", f"localhost:{port}"], 0, admin, False)
    assert result["loaded"] == []
    # Both lines really resolved their proxy and started registering.
    registrations = result["registrations"]
    assert isinstance(registrations, list) and len(registrations) == 2
    assert all(r is not None for r in registrations)


def test_the_first_connection_loads_aiohttp_and_a_host_name_proxy_loads_dns() -> None:
    admin = f"127.0.0.1:{free_port()}"
    # ".invalid" never resolves (RFC 6761); the resolver's first query imports dnspython.
    result = _daemon(["pbx.invalid"], 0, admin, True)
    assert result["listening"] == ["dns"]
    assert str(result["api"]).split()[1] == "200"
    assert str(result["admin"]).split()[1] == "200"
    assert result["loaded"] == ["aiohttp", "dns"]


PROVISIONING_SCRIPT = """
import asyncio, json, subprocess, sys, tempfile
from pathlib import Path
from provisioning import driver, fetch, profile  # noqa: F401 - what the daemon imports
from provisioning.crypto import decode_profile_bytes

plain = b'[device]\\ncountry = "us"\\n'
folder = Path(tempfile.mkdtemp())
(folder / "p.toml").write_bytes(plain)
got = asyncio.run(fetch.fetch_profile((folder / "p.toml").as_uri()))
assert decode_profile_bytes(got.body, key=None) == plain

async def over_http():
    async def serve(reader, writer):
        await reader.readuntil(b"\\r\\n\\r\\n")
        writer.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(plain) + plain)
        await writer.drain()
        writer.close()
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        return await fetch.fetch_profile(f"http://127.0.0.1:{port}/p.toml")
    finally:
        server.close()

assert asyncio.run(over_http()).body == plain
before = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.argv[1])))
encrypted = subprocess.run(
    ["openssl", "enc", "-e", "-aes-256-cbc", "-pbkdf2", "-k", "k3y", "-salt"],
    input=plain, capture_output=True, check=True,
).stdout
assert decode_profile_bytes(encrypted, key="k3y") == plain
after = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.argv[1])))
print(json.dumps({"before": before, "after": after}))
"""


def test_provisioning_downloads_without_aiohttp_and_loads_cryptography_only_to_decrypt() -> None:
    from tests.peers import require_binary

    require_binary("openssl")
    result = _run(PROVISIONING_SCRIPT, json.dumps(HEAVY))
    assert result["before"] == []
    assert result["after"] == ["cryptography"]


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST.", "pbx.localhost", "127.0.0.1"])
async def test_localhost_and_literals_resolve_without_dns(host: str) -> None:
    from ata.runtime.sip_dns import SipResolver, Target

    resolver = SipResolver()
    targets = await resolver.resolve(host, 5070)
    assert targets == [Target("127.0.0.1", 5070, "udp", None if host[0].isdigit() else host)]
    assert await resolver.resolve(host, transport="tls") == [
        Target("127.0.0.1", 5061, "tls", None if host[0].isdigit() else host)
    ]
    assert resolver.lookups == 0


# --- OnDemandSite: the listener that loads aiohttp at the first connection ------------------


async def _http_get(port: int, path: str = "/", host: str = "127.0.0.1") -> str:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    data = await asyncio.wait_for(reader.read(), 10.0)
    writer.close()
    return data.decode("latin-1")


def _counting_app(calls: list[int]) -> Callable[[], Awaitable[web.Application]]:
    async def build() -> web.Application:
        calls.append(1)

        async def hello(request: web.Request) -> web.Response:
            return web.Response(text=f"hello {len(calls)}")

        app = web.Application()
        app.router.add_get("/", hello)
        return app

    return build


async def test_on_demand_site_builds_at_the_first_connection_and_serves_it() -> None:
    calls: list[int] = []
    site = OnDemandSite("127.0.0.1", 0, _counting_app(calls))
    await site.start()
    try:
        assert site.state is SiteState.LISTENING and site.port > 0
        await asyncio.sleep(0.05)
        assert calls == []  # listening costs nothing
        first, second = await asyncio.gather(_http_get(site.port), _http_get(site.port))
        assert first.startswith("HTTP/1.1 200") and first.endswith("hello 1")
        assert second.startswith("HTTP/1.1 200")
        assert site.state is SiteState.SERVING and calls == [1]
        assert (await _http_get(site.port)).endswith("hello 1")  # built once
    finally:
        await site.close()
    assert site.state is SiteState.CLOSED
    with pytest.raises(OSError):
        await _http_get(site.port)


async def test_on_demand_site_that_cannot_load_refuses_instead_of_hanging(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken() -> web.Application:
        raise RuntimeError("no application today")

    site = OnDemandSite("127.0.0.1", 0, broken, name="broken site")
    await site.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", site.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        # The pending connection is dropped with the listening socket: EOF or a reset.
        with contextlib.suppress(ConnectionError):
            assert await asyncio.wait_for(reader.read(), 10.0) == b""
        writer.close()
        assert site.state is SiteState.FAILED
        assert "could not be loaded" in caplog.text
        with pytest.raises(OSError):
            await _http_get(site.port)
    finally:
        await site.close()


async def test_on_demand_site_closes_while_listening_or_loading() -> None:
    site = OnDemandSite("127.0.0.1", 0, _counting_app([]))
    await site.start()
    port = site.port
    await site.close()
    with pytest.raises(OSError):
        await _http_get(port)

    gate = asyncio.Event()

    async def slow() -> web.Application:
        await gate.wait()
        return web.Application()

    loading = OnDemandSite("127.0.0.1", 0, slow)
    await loading.start()
    _, writer = await asyncio.open_connection("127.0.0.1", loading.port)
    for _ in range(200):
        if loading.state is SiteState.LOADING:
            break
        await asyncio.sleep(0.01)
    assert loading.state is SiteState.LOADING
    await loading.close()
    writer.close()
    assert loading.state is SiteState.CLOSED


async def test_on_demand_site_refuses_an_address_in_use_at_start() -> None:
    first = OnDemandSite("127.0.0.1", 0, _counting_app([]))
    await first.start()
    try:
        with pytest.raises(OSError):
            await OnDemandSite("127.0.0.1", first.port, _counting_app([])).start()
    finally:
        await first.close()


def test_parse_listen_forms() -> None:
    assert parse_listen("127.0.0.1:8081") == ("127.0.0.1", 8081)
    assert parse_listen("[::1]:8443") == ("::1", 8443)
    assert parse_listen("[::1]") == ("::1", 8080)
    assert parse_listen("localhost") == ("localhost", 8080)
