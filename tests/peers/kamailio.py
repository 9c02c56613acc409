"""A real Kamailio registrar/proxy on 127.0.0.1 for the integration tests.

Each instance gets its own directory (config, db_text tables, control socket, pid file) and
free UDP+TCP port. REGISTER is challenged with ``www_challenge`` (401, qop=auth); INVITE,
SUBSCRIBE, MESSAGE, OPTIONS and REFER from our domain with ``proxy_challenge`` (407); INVITE
and SUBSCRIBE are record-routed; requests to our domain are routed by the location table.
usrloc lives in memory; the ``ctl`` module exposes a private binrpc socket so tests can read
the location table with ``kamcmd`` (:meth:`Kamailio.contacts`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.peers import LOOPBACK, free_port, require_binary

_CONFIG = """#!KAMAILIO
debug=2
log_stderror=yes
children=2
tcp_children=2
auto_aliases=no
listen=udp:{host}:{port}
listen=tcp:{host}:{port}
alias="{host}:{port}"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "ctl.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "db_text.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
modparam("ctl", "binrpc", "unix:{ctl}")
modparam("usrloc", "db_mode", 0)
modparam("registrar", "min_expires", {min_expires})
modparam("registrar", "max_expires", {max_expires})
modparam("auth_db", "db_url", "text://{db}")
modparam("auth_db", "calculate_ha1", 0)
modparam("auth_db", "password_column", "ha1")
modparam("auth_db", "load_credentials", "")
modparam("auth", "nonce_expire", {nonce_expire})
modparam("rr", "append_fromtag", 1)

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (!sanity_check("17895", "7")) {{ exit; }}
    if (has_totag()) {{
        if (loose_route()) {{ t_relay(); exit; }}
        if (is_method("ACK")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
        sl_send_reply("404", "Not here"); exit;
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    t_check_trans();
    if (is_method("REGISTER")) {{
        if (!www_authorize("$td", "subscriber")) {{ www_challenge("$td", "1"); exit; }}
        if (!save("location")) {{ sl_reply_error(); }}
        exit;
    }}
    if (from_uri==myself && is_method("INVITE|SUBSCRIBE|MESSAGE|OPTIONS|REFER")) {{
        if (!proxy_authorize("$fd", "subscriber")) {{ proxy_challenge("$fd", "1"); exit; }}
        consume_credentials();
    }}
    if (is_method("INVITE|SUBSCRIBE")) {{ record_route(); }}
    if (uri==myself) {{
        if ($rU == $null) {{ sl_send_reply("200", "OK"); exit; }}
        if (!lookup("location")) {{ sl_send_reply("404", "Not Found"); exit; }}
    }}
    if (!t_relay()) {{ sl_reply_error(); }}
}}
"""


def ha1(user: str, realm: str, password: str) -> str:
    """MD5(user:realm:password), the stored credential Kamailio's auth_db compares against."""
    return hashlib.md5(f"{user}:{realm}:{password}".encode(), usedforsecurity=False).hexdigest()


@dataclass
class Kamailio:
    """One Kamailio process. ``realm`` is the SIP domain: use ``sip:user@{realm}``."""

    workdir: Path
    users: Mapping[str, str]
    host: str = LOOPBACK
    port: int = field(default_factory=free_port)
    min_expires: int = 10
    max_expires: int = 3600
    nonce_expire: int = 30
    process: subprocess.Popen[bytes] | None = None

    @property
    def realm(self) -> str:
        return self.host

    @property
    def uri(self) -> str:
        return f"sip:{self.host}:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.workdir / "kamailio.pid"

    @property
    def log_file(self) -> Path:
        return self.workdir / "kamailio.log"

    @property
    def ctl_socket(self) -> Path:
        return self.workdir / "ctl.sock"

    def _write_files(self) -> Path:
        db = self.workdir / "db"
        db.mkdir(parents=True, exist_ok=True)
        rows = [
            "id(int,auto) username(string) domain(string) password(string) "
            "ha1(string) ha1b(string) "
        ]
        for index, (user, password) in enumerate(self.users.items(), start=1):
            h1 = ha1(user, self.realm, password)
            h1b = ha1(f"{user}@{self.realm}", self.realm, password)
            rows.append(f"{index}:{user}:{self.realm}:{password}:{h1}:{h1b}")
        (db / "subscriber").write_text("\n".join(rows) + "\n")
        (db / "version").write_text(
            "id(int,auto) table_name(string) table_version(int) \n1:subscriber:7\n2:version:1\n"
        )
        config = self.workdir / "kamailio.cfg"
        config.write_text(
            _CONFIG.format(
                host=self.host,
                port=self.port,
                db=db,
                ctl=self.ctl_socket,
                min_expires=self.min_expires,
                max_expires=self.max_expires,
                nonce_expire=self.nonce_expire,
            )
        )
        return config

    def start(self, timeout: float = 10.0) -> None:
        binary = require_binary("kamailio")
        config = self._write_files()
        check = subprocess.run(
            [binary, "-c", "-f", str(config)], capture_output=True, check=False, timeout=30
        )
        if check.returncode != 0:
            raise RuntimeError(f"kamailio config check failed:\n{check.stderr.decode()[-2000:]}")
        log = self.log_file.open("ab")
        self.process = subprocess.Popen(
            [
                binary,
                "-f",
                str(config),
                "-DD",
                "-E",
                "-P",
                str(self.pid_file),
                "-Y",
                str(self.workdir),
            ],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        """Ready once Kamailio answers an OPTIONS over UDP (any response)."""
        deadline = time.monotonic() + timeout
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((self.host, 0))
            probe.settimeout(0.2)
            local = probe.getsockname()[1]
            n = 0
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(
                        f"kamailio exited with {self.process.returncode}:\n{self.log_tail()}"
                    )
                n += 1
                probe.sendto(_options(self.host, self.port, local, n), (self.host, self.port))
                try:
                    data = probe.recv(65535)
                except TimeoutError:
                    continue
                if data.startswith(b"SIP/2.0 "):
                    return
        raise RuntimeError(f"kamailio did not answer within {timeout} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Stop by the pid file (the main process), then make sure the whole group is gone."""
        if self.process is None:
            return
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            pid = self.process.pid
        for target in (pid, self.process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(target, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process = None
        self.pid_file.unlink(missing_ok=True)
        self.ctl_socket.unlink(missing_ok=True)

    def restart(self) -> None:
        """Stop and start again on the same port: the in-memory location table is lost."""
        self.stop()
        self.start()

    def log_tail(self, size: int = 4000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    def contacts(self, user: str) -> list[str]:
        """Contact URIs currently registered for ``user`` (read with ``kamcmd ul.lookup``)."""
        kamcmd = require_binary("kamcmd")
        result = subprocess.run(
            [
                kamcmd,
                "-s",
                f"unix:{self.ctl_socket}",
                "ul.lookup",
                "location",
                f"{user}@{self.realm}",
            ],
            capture_output=True,
            check=False,
            timeout=10,
            text=True,
        )
        if result.returncode != 0:
            if "Not Found" in result.stdout + result.stderr or "404" in result.stderr:
                return []
            raise RuntimeError(f"kamcmd failed: {result.stderr.strip() or result.stdout}")
        found: list[str] = []
        for line in result.stdout.splitlines():
            stripped = line.strip()
            if stripped.startswith("Address:"):
                found.append(stripped.split(":", 1)[1].strip())
        return found


def _options(host: str, port: int, local_port: int, n: int) -> bytes:
    lines = [
        f"OPTIONS sip:{host}:{port} SIP/2.0",
        f"Via: SIP/2.0/UDP {host}:{local_port};branch=z9hG4bK-probe{n}",
        "Max-Forwards: 70",
        f"From: <sip:probe@{host}.invalid>;tag=probe",
        f"To: <sip:{host}:{port}>",
        f"Call-ID: probe-{os.getpid()}-{local_port}",
        f"CSeq: {n} OPTIONS",
        "Content-Length: 0",
        "",
        "",
    ]
    return "\r\n".join(lines).encode()
