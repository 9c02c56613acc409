"""Profile download over HTTP(S) (aiohttp) or ``file://``, with conditional requests.

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

aiohttp (~12 MB resident with its dependencies) is imported by the first HTTP(S) download, not
with this module: a daemon whose profile is a ``file://`` URL, or that never resyncs, does not
load it.
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from provisioning.crypto import MAX_PROFILE_BYTES
from provisioning.profile import ProvisioningError

if TYPE_CHECKING:
    import aiohttp

USER_AGENT: Final = "pi-ata provisioning"


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


def safe_url(url: str) -> str:
    """The URL without user-info or query (for logs and status)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
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


async def _read_capped(response: aiohttp.ClientResponse) -> bytes:
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.content.iter_chunked(65536):
        total += len(chunk)
        if total > MAX_PROFILE_BYTES:
            raise ProvisioningError("download", f"profile larger than {MAX_PROFILE_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def fetch_profile(
    url: str,
    *,
    validators: Validators | None = None,
    ssl_context: ssl.SSLContext | None = None,
    timeout_s: float = 30.0,
    session: aiohttp.ClientSession | None = None,
) -> FetchResult:
    """Download ``url`` (already macro-expanded); see the module docstring."""
    shown = safe_url(url)
    if url.lower().startswith("file://"):
        return _fetch_file(url)
    import aiohttp

    headers = {"User-Agent": USER_AGENT}
    if validators and validators.etag:
        headers["If-None-Match"] = validators.etag
    if validators and validators.last_modified:
        headers["If-Modified-Since"] = validators.last_modified
    own = session is None
    client = session or aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s))
    try:
        async with asyncio.timeout(timeout_s):
            async with client.get(
                url,
                headers=headers,
                ssl=ssl_context if ssl_context is not None else True,
                allow_redirects=True,
                max_redirects=5,
            ) as response:
                if url.lower().startswith("https://") and response.url.scheme != "https":
                    raise ProvisioningError(
                        "download", f"{shown} redirected to plain HTTP: refused"
                    )
                if response.status == 304:
                    return FetchResult(True, b"", validators or Validators())
                if response.status != 200:
                    raise ProvisioningError(
                        "download", f"HTTP {response.status} {response.reason or ''} from {shown}"
                    )
                body = await _read_capped(response)
                expected = response.content_length
                if expected is not None and len(body) != expected:
                    raise ProvisioningError(
                        "download", f"truncated: got {len(body)} of {expected} bytes"
                    )
                return FetchResult(
                    False,
                    body,
                    Validators(response.headers.get("ETag"), response.headers.get("Last-Modified")),
                )
    except ProvisioningError:
        raise
    except aiohttp.ClientConnectorCertificateError as exc:
        raise ProvisioningError(
            "download", f"certificate of {shown} refused: {exc.certificate_error}"
        ) from None
    except aiohttp.ClientSSLError as exc:
        raise ProvisioningError("download", f"TLS error with {shown}: {exc}") from None
    except aiohttp.ClientPayloadError:
        raise ProvisioningError("download", f"truncated or corrupt transfer from {shown}") from None
    except (aiohttp.ClientError, OSError) as exc:
        raise ProvisioningError(
            "download", f"cannot fetch {shown}: {type(exc).__name__}: {exc}"
        ) from None
    except TimeoutError:
        raise ProvisioningError(
            "download", f"timeout after {timeout_s:g} s fetching {shown}"
        ) from None
    finally:
        if own:
            await client.close()


def _fetch_file(url: str) -> FetchResult:
    path = Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path))
    try:
        size = path.stat().st_size
        if size > MAX_PROFILE_BYTES:
            raise ProvisioningError("download", f"profile larger than {MAX_PROFILE_BYTES} bytes")
        return FetchResult(False, path.read_bytes(), Validators())
    except OSError as exc:
        raise ProvisioningError("download", f"cannot read {path}: {exc.strerror}") from None
