"""The profile downloader's own HTTP/1.1 client against raw servers on 127.0.0.1: body framing
(chunked, Content-Length, end of connection), redirects, validators, Basic authorization from
the URL, content encodings and malformed answers. (The end-to-end provisioning tests, with an
aiohttp server, HTTPS and client certificates, are in test_http_provisioning.py.)"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import zlib
from collections.abc import AsyncIterator, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioning.crypto import MAX_PROFILE_BYTES
from provisioning.fetch import Validators, fetch_profile
from provisioning.profile import ProvisioningError

Answer = Callable[[bytes], bytes]  # request head -> raw response bytes


class RawServer:
    """Answers each connection with ``answer(request_head)`` and closes it."""

    def __init__(self) -> None:
        self.answers: dict[str, Answer] = {}
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        self.requests.append(head)
        path = head.split(b" ", 2)[1].decode()
        answer = self.answers.get(path.split("?")[0])
        writer.write(answer(head) if answer else b"HTTP/1.1 404 Not Found\r\n\r\n")
        await writer.drain()
        writer.close()

    def url(self, path: str, userinfo: str = "") -> str:
        return f"http://{userinfo}127.0.0.1:{self.port}{path}"


@pytest.fixture
async def raw() -> AsyncIterator[RawServer]:
    server = RawServer()
    await server.start()
    yield server
    assert server.server is not None
    server.server.close()
    await server.server.wait_closed()


def fixed(data: bytes) -> Answer:
    return lambda _head: data


def chunked(body: bytes, sizes: list[int]) -> bytes:
    out, pos = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"], 0
    for size in sizes:
        part = body[pos : pos + size]
        pos += len(part)
        if part:
            out.append(b"%x;ext=1\r\n%s\r\n" % (len(part), part))
    if pos < len(body):
        out.append(b"%x\r\n%s\r\n" % (len(body) - pos, body[pos:]))
    out.append(b"0\r\nX-Trailer: 1\r\n\r\n")
    return b"".join(out)


async def test_framings_content_length_chunked_and_end_of_connection(raw: RawServer) -> None:
    body = b"[device]\ncountry = 'us'\n" * 10
    raw.answers["/len"] = fixed(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    raw.answers["/chunked"] = fixed(chunked(body, [7, 1, 100]))
    raw.answers["/close"] = fixed(b"HTTP/1.0 200 OK\r\n\r\n" + body)
    for path in ("/len", "/chunked", "/close"):
        result = await fetch_profile(raw.url(path))
        assert result.body == body, path
        assert not result.not_modified


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.binary(max_size=3000), sizes=st.lists(st.integers(1, 700), max_size=8))
async def test_any_chunking_reassembles_the_body(
    raw: RawServer, body: bytes, sizes: list[int]
) -> None:
    raw.answers["/p"] = fixed(chunked(body, sizes))
    assert (await fetch_profile(raw.url("/p"))).body == body


async def test_validators_sent_and_304_is_not_modified(raw: RawServer) -> None:
    raw.answers["/p"] = fixed(b'HTTP/1.1 304 Not Modified\r\nETag: "abc"\r\n\r\n')
    known = Validators('"abc"', "Tue, 24 Nov 2026 10:00:00 GMT")
    result = await fetch_profile(raw.url("/p?mac=00112233"), validators=known)
    assert result.not_modified and result.validators == known
    head = raw.requests[-1].decode()
    assert head.startswith("GET /p?mac=00112233 HTTP/1.1\r\n")
    assert 'If-None-Match: "abc"' in head
    assert "If-Modified-Since: Tue, 24 Nov 2026 10:00:00 GMT" in head
    assert f"Host: 127.0.0.1:{raw.port}" in head


async def test_new_validators_returned(raw: RawServer) -> None:
    raw.answers["/p"] = fixed(
        b'HTTP/1.1 200 OK\r\nETag: "v2"\r\nLast-Modified: Wed\r\nContent-Length: 2\r\n\r\nok'
    )
    result = await fetch_profile(raw.url("/p"))
    assert result.validators == Validators('"v2"', "Wed")


async def test_basic_authorization_from_the_url_and_never_in_errors(raw: RawServer) -> None:
    raw.answers["/p"] = fixed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert (await fetch_profile(raw.url("/p", "fleet%40x:s3cr%3At@"))).body == b"ok"
    token = base64.b64encode(b"fleet@x:s3cr:t").decode()
    assert f"Authorization: Basic {token}" in raw.requests[-1].decode()
    with pytest.raises(ProvisioningError) as info:
        await fetch_profile(raw.url("/missing", "fleet:s3cret@"))
    assert "404" in info.value.reason and "s3cret" not in info.value.reason


async def test_redirects_relative_and_absolute_then_too_many(raw: RawServer) -> None:
    raw.answers["/a"] = fixed(b"HTTP/1.1 302 Found\r\nLocation: /b\r\nContent-Length: 0\r\n\r\n")
    raw.answers["/b"] = fixed(
        b"HTTP/1.1 301 Moved\r\nLocation: %s\r\n\r\n" % raw.url("/c").encode()
    )
    raw.answers["/c"] = fixed(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nend")
    assert (await fetch_profile(raw.url("/a"))).body == b"end"
    raw.answers["/loop"] = fixed(b"HTTP/1.1 307 Again\r\nLocation: /loop\r\n\r\n")
    with pytest.raises(ProvisioningError, match="too many redirects"):
        await fetch_profile(raw.url("/loop"))
    assert sum(1 for r in raw.requests if r.startswith(b"GET /loop ")) == 6


async def test_content_encodings_a_server_applies_anyway(raw: RawServer) -> None:
    body = b"a = 1\n" * 50
    for name, data in (("gzip", gzip.compress(body)), ("deflate", zlib.compress(body))):
        raw.answers["/p"] = fixed(
            b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nContent-Length: %d\r\n\r\n"
            % (name.encode(), len(data))
            + data
        )
        assert (await fetch_profile(raw.url("/p"))).body == body
    assert b"Accept-Encoding: identity" in raw.requests[-1]
    raw.answers["/p"] = fixed(b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\n\r\nxx")
    with pytest.raises(ProvisioningError, match="unsupported content encoding"):
        await fetch_profile(raw.url("/p"))


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort", "truncated: got 5 of 50"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc", "truncated"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "corrupt chunked"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "transfer encoding"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP response"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed response header"),
        (b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 101 + b"\r\n", "more than 100"),
        (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n", "longer than"),
        (b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n", "HTTP 503 Busy from"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (MAX_PROFILE_BYTES + 1), "larger"),
        (b"", "closed the connection before answering"),
    ],
)
async def test_malformed_answers_are_download_errors(
    raw: RawServer, response: bytes, reason: str
) -> None:
    raw.answers["/p"] = fixed(response)
    with pytest.raises(ProvisioningError) as info:
        await fetch_profile(raw.url("/p"), timeout_s=5.0)
    assert info.value.stage == "download"
    assert reason in info.value.reason


async def test_oversized_bodies_without_length_are_refused(raw: RawServer) -> None:
    big = b"x" * (MAX_PROFILE_BYTES + 10)
    raw.answers["/close"] = fixed(b"HTTP/1.0 200 OK\r\n\r\n" + big)
    raw.answers["/chunked"] = fixed(chunked(big, [1 << 20] * 5))
    for path in ("/close", "/chunked"):
        with pytest.raises(ProvisioningError, match="larger than"):
            await fetch_profile(raw.url(path))


async def test_timeout_and_refused_connection() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(ProvisioningError, match=r"timeout after 0\.3 s"):
            await fetch_profile(f"http://127.0.0.1:{port}/p", timeout_s=0.3)
    finally:
        server.close()
        await server.wait_closed()
    with pytest.raises(ProvisioningError, match="cannot fetch"):
        await fetch_profile(f"http://127.0.0.1:{port}/p", timeout_s=2.0)


async def test_line_breaks_in_the_url_never_become_header_lines(raw: RawServer) -> None:
    raw.answers["/p"] = fixed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    for url in (raw.url("/p", "a\r\nX-Injected: 1@"), raw.url("/p%0d%0aX-Injected: 1")):
        with contextlib.suppress(ProvisioningError):
            await fetch_profile(url)
    assert raw.requests
    for head in raw.requests:
        assert b"\r\nX-Injected" not in head
