"""The local config file: TOML round trip, permissions, and power-loss-safe atomic writes."""

from __future__ import annotations

import os
import random
import signal
import stat
import time
from pathlib import Path

import pytest

from provisioning.schema import Config
from provisioning.store import (
    ENV_VAR,
    atomic_write,
    config_path,
    encode_toml,
    load_config,
    save_config,
)
from provisioning.validate import ConfigValidationError, config_from_data


def _version(index: int) -> bytes:
    """Complete, distinguishable file contents of very different sizes."""
    config = config_from_data(
        {
            "device": {"name": f"ata-{index}"},
            "lines": [
                {
                    "display_name": f"v{index}",
                    "dial_plan": "(" + "x" * (index * 997 % 8000 + 1) + ")",
                }
            ],
        }
    )
    return encode_toml(config).encode()


def test_round_trip_and_permissions(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "config.toml"
    config = config_from_data(
        {"lines": [{"proxy": "sip.example.com", "user": "u1", "password": "p"}]}
    )
    save_config(config, path)
    assert load_config(path) == config
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in path.parent.iterdir() if p.name != "config.toml"]


def test_missing_file_means_defaults_and_path_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_config(tmp_path / "absent.toml") == Config()
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "absent.toml", missing_ok=False)
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "x.toml"))
    assert config_path() == tmp_path / "x.toml"
    assert config_path(tmp_path / "y.toml") == tmp_path / "y.toml"
    monkeypatch.delenv(ENV_VAR)
    assert str(config_path()) == "/etc/pi-ata/config.toml"


def test_invalid_file_reports_path(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[[lines]]\nregistration = { expires = 5 }\n")
    with pytest.raises(ConfigValidationError) as info:
        load_config(path)
    assert [str(e) for e in info.value.errors] == [
        "lines[0].registration.expires: must be 60..86400, got 5"
    ]
    path.write_text("[device\n")
    with pytest.raises(ConfigValidationError, match="TOML syntax error"):
        load_config(path)


def test_stale_temp_files_are_cleaned(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    (tmp_path / ".config.toml.tmp-123-abcd").write_bytes(b"half")
    atomic_write(path, b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]


def test_sigkill_during_save_never_leaves_a_partial_file(tmp_path: Path) -> None:
    """Kill a saving child at random points >= 1000 times: the file is always one whole version.

    The child is forked from this process (no interpreter start-up), saves versions in a tight
    loop with the real atomic_write (fsync included) and is SIGKILLed after a random delay.
    """
    path = tmp_path / "config.toml"
    versions = [_version(i) for i in range(12)]
    allowed = set(versions)
    atomic_write(path, versions[0])
    rng = random.Random(1234)
    kills = 0
    deadline = time.monotonic() + 100.0  # normally 4-12 s; generous for a loaded CI box
    landed_mid_write = 0
    while kills < 1000 and time.monotonic() < deadline:
        start = rng.randrange(len(versions))
        pid = os.fork()
        if pid == 0:  # child: save forever
            try:
                index = start
                while True:
                    atomic_write(path, versions[index])
                    index = (index + 1) % len(versions)
            finally:
                os._exit(0)
        time.sleep(rng.uniform(0, 0.004))  # test pacing only: a random kill point
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status)
        kills += 1
        content = path.read_bytes()
        assert content in allowed, f"kill {kills}: file is partial/mixed ({len(content)} bytes)"
        landed_mid_write += any(p.name.startswith(".config.toml.tmp-") for p in tmp_path.iterdir())
    assert kills >= 1000, f"only {kills} kills in the time budget"
    # The kills really interrupted saves in progress (temp files were left behind).
    assert landed_mid_write > 0
    atomic_write(path, versions[1])
    assert path.read_bytes() == versions[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]


def test_concurrent_writer_temp_file_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    other = tmp_path / f".config.toml.tmp-{os.getppid()}-beef"  # a live process's temp file
    dead = tmp_path / ".config.toml.tmp-999999999-dead"
    other.write_bytes(b"in progress")
    dead.write_bytes(b"stale")
    atomic_write(path, b"x")
    assert other.exists()
    assert not dead.exists()
