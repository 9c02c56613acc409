"""A real baresip (Debian 1.0.0) far-end phone on 127.0.0.1, controlled over ``ctrl_tcp``.

No sound card: the microphone is an ``aufile`` WAV (8 kHz mono S16; baresip hangs up when it
ends, so make it long), and decoded audio is recorded per call by the ``sndfile`` module into
the instance's directory. Control uses ctrl_tcp's netstring JSON protocol: commands such as
``dial``, ``hangup``, ``accept``, ``listcalls``, ``callstat``, ``reginfo``, ``sndcode``; events
(``CALL_INCOMING``, ``CALL_ESTABLISHED``, ``CALL_CLOSED``, ``REGISTER_OK``, ...) arrive on the
same connection and are queued for :meth:`Baresip.wait_event`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.peers import LOOPBACK, free_port, free_port_pair, require_binary


@dataclass
class Baresip:
    """One baresip user agent. ``account`` is the full baresip account line (AOR and params)."""

    workdir: Path
    source_wav: Path
    account: str
    sip_port: int = field(default_factory=free_port_pair)
    ctrl_port: int = field(default_factory=free_port)
    rtp_ports: tuple[int, int] = (30000, 30999)
    process: subprocess.Popen[bytes] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    _sock: socket.socket | None = None
    _buffer: bytes = b""

    @property
    def log_file(self) -> Path:
        return self.workdir / "baresip.log"

    @property
    def record_dir(self) -> Path:
        return self.workdir / "recordings"

    def _write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.record_dir.mkdir(exist_ok=True)
        lines = [
            "poll_method epoll",
            f"sip_listen {LOOPBACK}:{self.sip_port}",
            "sip_trans_def udp",
            f"net_interface {LOOPBACK}",
            f"audio_source aufile,{self.source_wav}",
            "audio_player aufile,/dev/null",
            "audio_alert aufile,/dev/null",
            "audio_srate 8000",
            "audio_channels 1",
            "audio_buffer 20-160",
            f"rtp_ports {self.rtp_ports[0]}-{self.rtp_ports[1]}",
            "rtcp_mux no",
            "jitter_buffer_delay 1-10",
            "module_path /usr/lib/baresip/modules",
            "module g711.so",
            "module aufile.so",
            "module sndfile.so",
            f"snd_path {self.record_dir}",
            "module_app account.so",
            "module_app menu.so",
            "module_app ctrl_tcp.so",
            f"ctrl_tcp_listen {LOOPBACK}:{self.ctrl_port}",
        ]
        (self.workdir / "config").write_text("\n".join(lines) + "\n")
        (self.workdir / "accounts").write_text(self.account + "\n")
        (self.workdir / "contacts").write_text("")

    def start(self, timeout: float = 10.0) -> None:
        binary = require_binary("baresip")
        self._write_config()
        log = self.log_file.open("ab")
        self.process = subprocess.Popen(
            [binary, "-f", str(self.workdir)],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=self.workdir,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"baresip exited early:\n{self.log_tail()}")
            try:
                self._sock = socket.create_connection((LOOPBACK, self.ctrl_port), timeout=0.5)
                return
            except OSError:
                time.sleep(0.05)  # waiting for a child process to bind: test code, not product
        raise RuntimeError(f"baresip ctrl_tcp did not open:\n{self.log_tail()}")

    def stop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        self.process = None

    def log_tail(self, size: int = 4000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    # --- ctrl_tcp -------------------------------------------------------------------------
    def _read_message(self, timeout: float) -> dict[str, Any] | None:
        assert self._sock is not None
        deadline = time.monotonic() + timeout
        while True:
            colon = self._buffer.find(b":")
            if colon > 0:
                length = int(self._buffer[:colon])
                end = colon + 1 + length
                if len(self._buffer) > end:
                    payload = self._buffer[colon + 1 : end]
                    self._buffer = self._buffer[end + 1 :]  # skip the trailing ','
                    decoded: dict[str, Any] = json.loads(payload)
                    return decoded
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._sock.settimeout(remaining)
            try:
                chunk = self._sock.recv(65536)
            except TimeoutError:
                return None
            if not chunk:
                raise RuntimeError(f"baresip closed its control connection:\n{self.log_tail()}")
            self._buffer += chunk

    def command(self, command: str, params: str = "", timeout: float = 5.0) -> dict[str, Any]:
        """Send a ctrl_tcp command and return its response (events read meanwhile are queued)."""
        assert self._sock is not None
        token = f"t{time.monotonic_ns()}"
        body = json.dumps({"command": command, "params": params, "token": token}).encode()
        self._sock.sendall(str(len(body)).encode() + b":" + body + b",")
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            message = self._read_message(remaining)
            if message is None:
                break
            if message.get("response") and message.get("token") == token:
                return message
            if message.get("event"):
                self.events.append(message)
        raise TimeoutError(f"baresip did not answer '{command}'")

    def wait_event(self, *kinds: str, timeout: float = 10.0) -> dict[str, Any]:
        """Return (and consume) the first queued or arriving event whose type is in ``kinds``."""
        deadline = time.monotonic() + timeout
        while True:
            for index, event in enumerate(self.events):
                if event.get("type") in kinds:
                    return self.events.pop(index)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [e.get("type") for e in self.events]
                raise TimeoutError(f"no baresip event {kinds} within {timeout} s (seen {seen})")
            message = self._read_message(remaining)
            if message is not None and message.get("event"):
                self.events.append(message)

    def wait_registered(self, timeout: float = 10.0) -> None:
        """Poll ``reginfo`` until the account shows OK (REGISTER_OK may precede our connection)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "OK" in str(self.command("reginfo").get("data", "")):
                return
            time.sleep(0.1)  # polling a child process in a test fixture
        raise TimeoutError(f"baresip did not register:\n{self.log_tail()}")

    def recordings(self) -> list[Path]:
        """WAV files sndfile wrote (decoded received audio is ``*-dec.wav``)."""
        return sorted(self.record_dir.glob("*.wav"))
