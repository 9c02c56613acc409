"""``ata run`` as a real process, as systemd runs it: READY=1 and watchdog pings on
NOTIFY_SOCKET, lines registered with Kamailio, the JSON API up, and SIGTERM un-registers and
exits 0."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from provisioning.schema import Config, Line, Network, Provisioning
from provisioning.store import save_config
from tests.peers import free_port
from tests.peers.kamailio import Kamailio

pytestmark = [pytest.mark.peers, pytest.mark.timeout(60)]


def test_ata_run_notifies_systemd_registers_and_stops_cleanly_on_sigterm(
    kamailio: Kamailio, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    save_config(
        Config(
            network=Network(local_port=free_port()),
            lines=[
                Line(
                    proxy=f"{kamailio.host}:{kamailio.port}",
                    user="1001",
                    password=kamailio.users["1001"],
                )
            ],
            provisioning=Provisioning(dhcp_discovery=False),
        ),
        config,
    )
    notify_path = tmp_path / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    notify.settimeout(15)
    api = free_port()
    env = dict(os.environ, NOTIFY_SOCKET=str(notify_path), WATCHDOG_USEC="400000")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ata",
            "run",
            "--config",
            str(config),
            "--board",
            "sim",
            "--api",
            f"127.0.0.1:{api}",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        messages = [notify.recv(4096).decode()]
        assert messages == ["READY=1"]
        messages.append(notify.recv(4096).decode())
        assert messages[-1] == "WATCHDOG=1"
        deadline = time.monotonic() + 10
        while not kamailio.contacts("1001"):
            assert time.monotonic() < deadline, "line 1 registered"
            time.sleep(0.1)  # polling a separate process's effect in a test
        with urllib.request.urlopen(f"http://127.0.0.1:{api}/api/status", timeout=5) as r:
            status = json.load(r)
        assert status["board"] == "sim"
        assert status["lines"][0]["registration"]["state"] == "registered"
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=20)
        assert process.returncode == 0, out.decode()[-3000:]
        assert kamailio.contacts("1001") == [], "un-registered on SIGTERM"
        text = out.decode()
        assert kamailio.users["1001"] not in text, "no password in the log"
        assert "pi-ata stopped" in text
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        notify.close()
