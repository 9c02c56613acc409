"""Profile download over HTTP(S) or ``file://``, with conditional requests.

- HTTPS validates the server certificate chain *and* host name, against the system store or
  the configured CA bundle (``provisioning.ca_file``); a client certificate (and key) is
  presented when configured.
- ``ETag`` / ``Last-Modified`` of the last applied profile are sent back as ``If-None-Match`` /
  ``If-Modified-Since``; a ``304 Not Modified`` means nothing to do.
- Redirects (at most 5) may not leave HTTPS for plain HTTP.
- The body is capped (``MAX_PROFILE_BYTES``); a response longer than its ``Content-Length`` or
  shorter (a truncated transfer) is an error, as is any status other than 200/304.
- Errors raise :class:`~provisioning.profile.ProvisioningError` with stage ``download`` and a
  reason without credentials (URL user-info is stripped from messages).

Theory of operation
-------------------
One GET is a small HTTP/1.1 exchange on asyncio streams (the standard library only): connect
(TLS with ``server_hostname`` for https), send ``GET`` with ``Host``, ``Connection: close``,
``Accept-Encoding: identity``, the validators, and Basic authorization when the URL carries
user-info; read the status line and headers (bounded: :data:`MAX_HEADER_BYTES`,
:data:`MAX_HEADERS`), then the body framed by ``Transfer-Encoding: chunked``, by
``Content-Length``, or by the end of the connection. A 301/302/303/307/308 with a
``Location`` starts the next hop. A resync every hour needs no HTTP client library: aiohttp
would keep ~12 MB resident in the daemon from the first resync on, for one small GET.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
import urllib.parse
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from provisioning.crypto import MAX_PROFILE_BYTES, ProfileDecodeError, gunzip_capped
from provisioning.profile import ProvisioningError

USER_AGENT: Final = "pi-ata provisioning"
MAX_REDIRECTS: Final = 5
MAX_HEADER_BYTES: Final = 64 * 1024
MAX_HEADERS: Final = 100
REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_READ: Final = 65536


@dataclass(frozen=True)
class Validators:
    """What the server said about the profile last applied (for conditional requests)."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class FetchResult:
    not_modified: bool
    body: bytes
    validators: Validators


@dataclass(frozen=True)
class _Response:
    status: int
    reason: str
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes


class _DownloadError(Exception):
    """A download failure; its message is the reason to report (no credentials)."""


def safe_url(url: str) -> str:
    """The URL without user-info or query (for logs and status)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def make_ssl_context(
    ca_file: str = "", client_cert_file: str = "", client_key_file: str = ""
) -> ssl.SSLContext:
    """A verifying client context: chain + host name checked, TLS 1.2 or newer."""
    context = ssl.create_default_context(cafile=ca_file or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if client_cert_file:
        context.load_cert_chain(client_cert_file, client_key_file or None)
    return context


async def fetch_profile(
    url: str,
    *,
    validators: Validators | None = None,
    ssl_context: ssl.SSLContext | None = None,
    timeout_s: float = 30.0,
) -> FetchResult:
    """Download ``url`` (already macro-expanded); see the module docstring."""
    shown = safe_url(url)
    if url.lower().startswith("file://"):
        return _fetch_file(url)
    try:
        async with asyncio.timeout(timeout_s):
            response = await _get_following(url, validators, ssl_context, shown)
    except ProvisioningError:
        raise
    except _DownloadError as exc:
        raise ProvisioningError("download", str(exc)) from None
    except ssl.SSLCertVerificationError as exc:
        raise ProvisioningError(
            "download", f"certificate of {shown} refused: {exc.verify_message or exc.reason}"
        ) from None
    except ssl.SSLError as exc:
        raise ProvisioningError("download", f"TLS error with {shown}: {exc}") from None
    except TimeoutError:
        raise ProvisioningError(
            "download", f"timeout after {timeout_s:g} s fetching {shown}"
        ) from None
    except OSError as exc:
        raise ProvisioningError(
            "download", f"cannot fetch {shown}: {type(exc).__name__}: {exc}"
        ) from None
    if response.status == 304:
        return FetchResult(True, b"", validators or Validators())
    if response.status != 200:
        reason = f" {response.reason}" if response.reason else ""
        raise ProvisioningError("download", f"HTTP {response.status}{reason} from {shown}")
    return FetchResult(
        False,
        response.body,
        Validators(response.headers.get("etag"), response.headers.get("last-modified")),
    )


async def _get_following(
    url: str, validators: Validators | None, context: ssl.SSLContext | None, shown: str
) -> _Response:
    secure_start = url.lower().startswith("https://")
    for _ in range(MAX_REDIRECTS + 1):
        parts = urllib.parse.urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise _DownloadError(f"cannot fetch {shown}: unsupported URL scheme {scheme!r}")
        if secure_start and scheme != "https":
            raise ProvisioningError("download", f"{shown} redirected to plain HTTP: refused")
        response = await _get(parts, validators, context)
        location = response.headers.get("location")
        if response.status not in REDIRECTS or not location:
            return response
        url = urllib.parse.urljoin(url, location)
    raise _DownloadError(f"too many redirects fetching {shown}")


def _request(parts: urllib.parse.SplitResult, validators: Validators | None) -> bytes:
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port:
        host = f"{host}:{parts.port}"
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    lines = [
        f"GET {target} HTTP/1.1",
        f"Host: {host}",
        f"User-Agent: {USER_AGENT}",
        "Accept: */*",
        "Accept-Encoding: identity",
        "Connection: close",
    ]
    if validators and validators.etag:
        lines.append(f"If-None-Match: {validators.etag}")
    if validators and validators.last_modified:
        lines.append(f"If-Modified-Since: {validators.last_modified}")
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        lines.append(f"Authorization: Basic {token}")
    for line in lines:
        if "\r" in line or "\n" in line:
            raise _DownloadError("the profile URL contains a line break")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


async def _get(
    parts: urllib.parse.SplitResult, validators: Validators | None, context: ssl.SSLContext | None
) -> _Response:
    secure = parts.scheme.lower() == "https"
    host = parts.hostname
    if not host:
        raise _DownloadError(f"cannot fetch {safe_url(parts.geturl())}: no host in the URL")
    try:
        port = parts.port or (443 if secure else 80)
    except ValueError:
        raise _DownloadError(f"cannot fetch {safe_url(parts.geturl())}: bad port") from None
    request = _request(parts, validators)
    tls = (context or make_ssl_context()) if secure else None
    reader, writer = await asyncio.open_connection(
        host, port, ssl=tls, server_hostname=host if secure else None, limit=MAX_HEADER_BYTES
    )
    try:
        writer.write(request)
        await writer.drain()
        status, reason, headers = await _read_head(reader)
        body = b"" if status in (204, 304) else await _read_body(reader, headers)
    finally:
        writer.close()
        # The answer is in hand: a rough or slow close (TLS close_notify) changes nothing.
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(1.0):
                await writer.wait_closed()
    return _Response(status, reason, headers, _decode(body, headers))


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, str, dict[str, str]]:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        raise _DownloadError("the server closed the connection before answering") from None
    except asyncio.LimitOverrunError:
        raise _DownloadError(f"response headers longer than {MAX_HEADER_BYTES} bytes") from None
    lines = head.decode("iso-8859-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/1.") or not (code.isdigit() and len(code) == 3):
        raise _DownloadError(f"not an HTTP response: {lines[0][:60]!r}")
    headers: dict[str, str] = {}
    fields = [line for line in lines[1:] if line]
    if len(fields) > MAX_HEADERS:
        raise _DownloadError(f"more than {MAX_HEADERS} response headers")
    for line in fields:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise _DownloadError(f"malformed response header {line[:60]!r}")
        key = name.lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return int(code), reason.strip(), headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    coding = headers.get("transfer-encoding", "").lower()
    if coding:
        if coding != "chunked":
            raise _DownloadError(f"unsupported transfer encoding {coding!r}")
        return await _read_chunked(reader)
    length = headers.get("content-length")
    if length is None:
        return await _read_to_end(reader)
    if not length.isdigit():
        raise _DownloadError(f"bad Content-Length {length[:20]!r}")
    expected = int(length)
    if expected > MAX_PROFILE_BYTES:
        raise ProvisioningError("download", f"profile larger than {MAX_PROFILE_BYTES} bytes")
    try:
        return await reader.readexactly(expected)
    except asyncio.IncompleteReadError as exc:
        raise _DownloadError(f"truncated: got {len(exc.partial)} of {expected} bytes") from None


async def _read_to_end(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while chunk := await reader.read(_READ):
        total += len(chunk)
        if total > MAX_PROFILE_BYTES:
            raise ProvisioningError("download", f"profile larger than {MAX_PROFILE_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    total = 0
    try:
        while True:
            line = await reader.readuntil(b"\r\n")
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise _DownloadError("corrupt chunked transfer") from None
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailer fields: nothing we use
                return b"".join(chunks)
            total += size
            if total > MAX_PROFILE_BYTES:
                raise ProvisioningError(
                    "download", f"profile larger than {MAX_PROFILE_BYTES} bytes"
                )
            chunks.append(await reader.readexactly(size))
            if await reader.readexactly(2) != b"\r\n":
                raise _DownloadError("corrupt chunked transfer")
    except asyncio.IncompleteReadError:
        raise _DownloadError(f"truncated: chunked transfer ended after {total} bytes") from None
    except asyncio.LimitOverrunError:
        raise _DownloadError("corrupt chunked transfer") from None


def _decode(body: bytes, headers: dict[str, str]) -> bytes:
    """Undo a ``Content-Encoding`` a server applied although we asked for identity."""
    encoding = headers.get("content-encoding", "identity").lower()
    try:
        if encoding in ("identity", ""):
            return body
        if encoding in ("gzip", "x-gzip"):
            return gunzip_capped(body)
        if encoding == "deflate":
            inflater = zlib.decompressobj()
            out = inflater.decompress(body, MAX_PROFILE_BYTES + 1)
            if len(out) > MAX_PROFILE_BYTES or not inflater.eof:
                raise ProfileDecodeError("deflate data too large or truncated")
            return out
    except (ProfileDecodeError, zlib.error) as exc:
        raise _DownloadError(f"corrupt {encoding} content encoding: {exc}") from None
    raise _DownloadError(f"unsupported content encoding {encoding!r}")


def _fetch_file(url: str) -> FetchResult:
    path = Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path))
    try:
        size = path.stat().st_size
        if size > MAX_PROFILE_BYTES:
            raise ProvisioningError("download", f"profile larger than {MAX_PROFILE_BYTES} bytes")
        return FetchResult(False, path.read_bytes(), Validators())
    except OSError as exc:
        raise ProvisioningError("download", f"cannot read {path}: {exc.strerror}") from None
