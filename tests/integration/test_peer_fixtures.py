"""The peer fixtures themselves: Kamailio authenticates, baresip phones call through it.

REGISTER is sent by a deliberately tiny, independent digest client written here (not pi-ata's
SIP stack), and by sipsak, so these tests prove the fixture rather than our UA.
"""

from __future__ import annotations

import hashlib
import re
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ata.dsp.wavio import read_wav
from tests.peers import LOOPBACK, require_binary
from tests.peers.baresip import Baresip
from tests.peers.kamailio import Kamailio

pytestmark = pytest.mark.peers


def _register(server: Kamailio, user: str, password: str) -> list[int]:
    """REGISTER with one digest retry; return the status codes received, in order."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        sock.settimeout(3.0)
        port = sock.getsockname()[1]
        aor = f"sip:{user}@{server.host}:{server.port}"
        statuses: list[int] = []
        auth = ""
        for cseq in (1, 2):
            request = (
                f"REGISTER sip:{server.host}:{server.port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {LOOPBACK}:{port};branch=z9hG4bK-fixture-{cseq}\r\n"
                f"Max-Forwards: 70\r\nFrom: <{aor}>;tag=fx\r\nTo: <{aor}>\r\n"
                f"Call-ID: fixture-{port}\r\nCSeq: {cseq} REGISTER\r\n"
                f"Contact: <sip:{user}@{LOOPBACK}:{port}>\r\nExpires: 60\r\n{auth}"
                "Content-Length: 0\r\n\r\n"
            )
            sock.sendto(request.encode(), (server.host, server.port))
            reply = sock.recv(65535).decode()
            status = int(reply.split(" ", 2)[1])
            statuses.append(status)
            if status != 401:
                break
            challenge = re.search(r"WWW-Authenticate: Digest (.*)\r\n", reply)
            assert challenge is not None
            params = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge.group(1)))
            uri = f"sip:{server.host}:{server.port}"
            h1 = hashlib.md5(f"{user}:{params['realm']}:{password}".encode()).hexdigest()
            h2 = hashlib.md5(f"REGISTER:{uri}".encode()).hexdigest()
            cnonce, nc = "0a4f113b", "00000001"
            response = hashlib.md5(
                f"{h1}:{params['nonce']}:{nc}:{cnonce}:auth:{h2}".encode()
            ).hexdigest()
            auth = (
                f'Authorization: Digest username="{user}", realm="{params["realm"]}", '
                f'nonce="{params["nonce"]}", uri="{uri}", response="{response}", '
                f'qop=auth, nc={nc}, cnonce="{cnonce}", algorithm=MD5\r\n'
            )
        return statuses


def test_kamailio_accepts_right_password_and_rejects_wrong(kamailio: Kamailio) -> None:
    assert _register(kamailio, "alice", kamailio.users["alice"]) == [401, 200]
    assert kamailio.contacts("alice"), "the binding is in Kamailio's location table"
    wrong = _register(kamailio, "bob", "not-the-password")
    assert wrong[0] == 401
    assert wrong[-1] in (401, 403)
    assert kamailio.contacts("bob") == []


def test_sipsak_registers_with_the_fixture(kamailio: Kamailio) -> None:
    sipsak = require_binary("sipsak")
    target = f"sip:carol@{kamailio.host}:{kamailio.port}"
    ok = subprocess.run(
        [sipsak, "-U", "-s", target, "-u", "carol", "-a", kamailio.users["carol"]],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert ok.returncode == 0, ok.stdout.decode() + ok.stderr.decode()
    bad = subprocess.run(
        [sipsak, "-U", "-s", target, "-u", "carol", "-a", "wrong"],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert bad.returncode != 0


def test_kamailio_restart_forgets_bindings(kamailio: Kamailio) -> None:
    assert _register(kamailio, "alice", kamailio.users["alice"])[-1] == 200
    kamailio.restart()
    assert kamailio.contacts("alice") == []
    assert _register(kamailio, "alice", kamailio.users["alice"])[-1] == 200


def _dominant_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * 8000 / len(samples))


def test_two_baresip_phones_call_through_kamailio(
    kamailio: Kamailio,
    baresip_factory: Callable[..., Baresip],
    tone_wav: Callable[..., Path],
) -> None:
    common = "answermode=auto;audio_codecs=PCMU;ptime=20;regint=600"
    base = f"{kamailio.host}:{kamailio.port}"
    alice = baresip_factory(
        f"<sip:alice@{base}>;auth_pass={kamailio.users['alice']};{common}", tone_wav(440)
    )
    bob = baresip_factory(
        f"<sip:bob@{base}>;auth_pass={kamailio.users['bob']};{common}", tone_wav(1000)
    )
    alice.wait_registered()
    bob.wait_registered()
    alice.command("dial", f"sip:bob@{base}")
    alice.wait_event("CALL_ESTABLISHED", timeout=10)
    time.sleep(1.5)  # let audio flow for a while (wall time the peers need, not pacing)
    alice.command("hangup")
    bob.wait_event("CALL_CLOSED", timeout=10)
    decoded = [p for p in bob.recordings() if p.name.endswith("-dec.wav")]
    assert decoded, "bob recorded what he heard"
    heard = read_wav(decoded[0])
    assert len(heard) >= 8000
    assert abs(_dominant_hz(heard[-8000:]) - 440) < 5
