"""The provisioning status file (JSON), read by ``ata provision status`` and the web admin.

Default path ``/var/lib/pi-ata/provisioning-status.json`` (``PI_ATA_PROV_STATUS`` overrides).
It records the last attempt and its outcome (``applied``, ``unchanged``, ``error``,
``disabled``), the failing stage and reason, the profile URL without credentials, when the next
fetch is planned, and per URL the ``ETag``/``Last-Modified``/SHA-256 of the last applied
profile (for conditional requests). It never holds a password or key (rules are keyed by a
digest; the file is still mode 0600 since the digest covers the profile key). Written atomically.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Final

import msgspec

from provisioning.store import atomic_write

DEFAULT_STATUS_PATH: Final = Path("/var/lib/pi-ata/provisioning-status.json")
ENV_VAR: Final = "PI_ATA_PROV_STATUS"


class UrlState(msgspec.Struct, kw_only=True):
    etag: str | None = None
    last_modified: str | None = None
    sha256: str | None = None


class Status(msgspec.Struct, kw_only=True):
    outcome: str = "never"  # never | applied | unchanged | error | disabled
    cause: str | None = None
    url: str | None = None
    stage: str | None = None
    reason: str | None = None
    format: str | None = None
    changed: list[str] = msgspec.field(default_factory=list)
    ignored: list[str] = msgspec.field(default_factory=list)
    last_attempt: float | None = None
    last_success: float | None = None
    next_attempt: float | None = None
    consecutive_failures: int = 0
    urls: dict[str, UrlState] = msgspec.field(default_factory=dict)


def status_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else DEFAULT_STATUS_PATH


def url_key(url: str) -> str:
    """Status key of an expanded rule (URL, key...): a digest, so no secret is stored."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]


def load_status(path: Path) -> Status:
    try:
        return msgspec.json.decode(path.read_bytes(), type=Status)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return Status()


def save_status(status: Status, path: Path) -> None:
    atomic_write(path, msgspec.json.format(msgspec.json.encode(status)) + b"\n", mode=0o600)
