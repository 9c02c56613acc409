"""Shared helpers for tests that run real peers (kamailio, baresip, sipp, multimon-ng, ...).

A test that needs a peer calls :func:`require_binary`: when the program is missing it skips
with a clear reason, and when ``ATA_REQUIRE_PEERS=1`` (CI) it fails instead, so CI can never
pass by skipping. Ports come from :func:`free_port` (the kernel's choice on 127.0.0.1).
"""

from __future__ import annotations

import ctypes.util
import os
import shutil
import socket

import pytest

LOOPBACK = "127.0.0.1"


def peers_required() -> bool:
    return os.environ.get("ATA_REQUIRE_PEERS", "") not in ("", "0")


def missing_peer(reason: str) -> None:
    """Skip (developer machine) or fail (CI) because a peer is not available."""
    if peers_required():
        pytest.fail(f"required peer missing: {reason} (ATA_REQUIRE_PEERS=1)", pytrace=False)
    pytest.skip(f"peer missing: {reason}; install it with 'sudo make peers'")


def require_binary(name: str) -> str:
    """Return the path of executable ``name``, or skip/fail the test if it is not installed."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/local/sbin")
    if path is None:
        missing_peer(f"program '{name}' not found on PATH")
    assert path is not None
    return path


def require_library(name: str) -> str:
    """Return the file name of shared library ``name`` (e.g. 'spandsp'), or skip/fail."""
    found = ctypes.util.find_library(name)
    if found is None:
        missing_peer(f"shared library 'lib{name}' not found")
    assert found is not None
    return found


def free_port(kind: int = socket.SOCK_DGRAM, *, also_tcp: bool = True) -> int:
    """A port free on 127.0.0.1 for UDP (and TCP, when ``also_tcp``) at the time of the call."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind((LOOPBACK, 0))
            port: int = s.getsockname()[1]
        if not also_tcp:
            return port
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                t.bind((LOOPBACK, port))
        except OSError:
            continue
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.bind((LOOPBACK, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no free loopback port found")


def free_port_pair(gap: int = 2) -> int:
    """A port P where P..P+gap are all free on UDP and TCP (baresip also binds SIP+1 for TLS)."""
    for _ in range(50):
        base = free_port()
        ok = True
        for offset in range(1, gap + 1):
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                try:
                    with socket.socket(socket.AF_INET, kind) as s:
                        s.bind((LOOPBACK, base + offset))
                except OSError:
                    ok = False
        if ok:
            return base
    raise RuntimeError("no free loopback port range found")
