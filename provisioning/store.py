"""The local configuration file: TOML at a documented path, written atomically.

Path: ``/etc/pi-ata/config.toml`` unless ``--config FILE`` is given or the ``PI_ATA_CONFIG``
environment variable names another file. A missing file means the defaults (a fresh device).

Power-loss safety (:func:`atomic_write`): the new content goes to a temporary file in the same
directory (same file system), is flushed and ``fsync``-ed, renamed over the old file (``rename``
is atomic on POSIX), and then the directory is ``fsync``-ed so the rename itself is durable.
At any instant the path names either the complete old file or the complete new one; an
interrupted write leaves at most a stale ``.NAME.tmp-PID-*`` file, removed by the next save
(unless process PID still runs: two concurrent writers do not delete each other's files).
The file holds passwords, so it is created mode 0600.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tomllib
from pathlib import Path
from typing import Final

import tomli_w

from provisioning.schema import Config, default_config, to_data
from provisioning.validate import (
    ConfigValidationError,
    DialPlanParser,
    FieldError,
    config_from_data,
)

DEFAULT_PATH: Final = Path("/etc/pi-ata/config.toml")
ENV_VAR: Final = "PI_ATA_CONFIG"
MAX_CONFIG_BYTES: Final = 1 << 20


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The config file to use: ``explicit``, else ``$PI_ATA_CONFIG``, else the default."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else DEFAULT_PATH


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _writer_alive(suffix: str) -> bool:
    """Whether the process that made a temp file (``PID-random``) still runs (not us)."""
    pid_text = suffix.split("-", 1)[0]
    if not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves either the old or the new file."""
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}.tmp-"
    for stale in directory.glob(prefix + "*"):
        if _writer_alive(stale.name[len(prefix) :]):
            continue  # another process is saving right now: leave its temp file alone
        with contextlib.suppress(OSError):
            stale.unlink()
    tmp = directory / f"{prefix}{os.getpid()}-{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(directory)


def encode_toml(config: Config) -> str:
    """The config as TOML text (every field written, so the file documents the defaults)."""
    header = "# pi-ata configuration; reference: docs/configuration.md or `ata config schema`\n"
    return header + tomli_w.dumps(to_data(config))


def encode_json(config: Config) -> str:
    return json.dumps(to_data(config), indent=2) + "\n"


def parse_toml(text: str) -> dict[str, object]:
    """TOML text to raw data; a syntax error becomes a :class:`ConfigValidationError`."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigValidationError([FieldError("", f"TOML syntax error: {exc}")]) from None


def parse_json(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigValidationError([FieldError("", f"JSON syntax error: {exc}")]) from None


def read_config_data(path: Path) -> object:
    """Raw data of a config file, TOML or (``.json``) JSON."""
    raw = path.read_bytes()
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigValidationError([FieldError("", f"file larger than {MAX_CONFIG_BYTES} bytes")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigValidationError([FieldError("", "file is not UTF-8 text")]) from None
    if path.suffix.lower() == ".json":
        return parse_json(text)
    return parse_toml(text)


def load_config(
    path: Path | None = None,
    *,
    missing_ok: bool = True,
    dial_plan_parser: DialPlanParser | None = None,
) -> Config:
    """Load and validate the local config; defaults when the file does not exist."""
    path = path or config_path()
    if missing_ok and not path.exists():
        return default_config()
    return config_from_data(read_config_data(path), dial_plan_parser=dial_plan_parser)


def save_config(config: Config, path: Path | None = None) -> None:
    """Write the config atomically as TOML (mode 0600)."""
    atomic_write(path or config_path(), encode_toml(config).encode("utf-8"))
