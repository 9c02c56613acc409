"""pytest fixtures that start real peers on loopback (see tests/peers/kamailio.py, baresip.py).

- ``kamailio``: a Kamailio registrar/proxy with digest users ``alice``/``bob``/``carol`` (and
  the 100x numbers ``1001``..``1004``), passwords in ``kamailio.users``; stopped by pid after
  the test.
- ``kamailio_factory(users=..., **kw)``: more instances or other users.
- ``baresip_factory(account=..., source_wav=...)``: baresip phones with their own config dirs.
- ``tone_wav(freq, seconds)``: writes an 8 kHz mono sine WAV (baresip's microphone).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ata.dsp.levels import dbm0_to_amplitude
from ata.dsp.wavio import write_wav
from tests.peers.baresip import Baresip
from tests.peers.kamailio import Kamailio

DEFAULT_USERS = {
    "alice": "alice-secret",
    "bob": "bob-secret",
    "carol": "carol-secret",
    "1001": "pw1001",
    "1002": "pw1002",
    "1003": "pw1003",
    "1004": "pw1004",
}


@pytest.fixture
def kamailio_factory(tmp_path: Path) -> Iterator[Callable[..., Kamailio]]:
    started: list[Kamailio] = []

    def make(users: dict[str, str] | None = None, **kwargs: Any) -> Kamailio:
        workdir = tmp_path / f"kamailio{len(started)}"
        workdir.mkdir()
        server = Kamailio(workdir=workdir, users=dict(users or DEFAULT_USERS), **kwargs)
        started.append(server)
        server.start()
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def kamailio(kamailio_factory: Callable[..., Kamailio]) -> Kamailio:
    return kamailio_factory()


@pytest.fixture
def tone_wav(tmp_path: Path) -> Callable[..., Path]:
    def make(freq: float, seconds: float = 60.0, level_dbm0: float = -10.0) -> Path:
        t = np.arange(int(seconds * 8000)) / 8000.0
        samples = dbm0_to_amplitude(level_dbm0) * np.sin(2 * np.pi * freq * t)
        path = tmp_path / f"tone-{freq:g}Hz-{seconds:g}s.wav"
        write_wav(path, np.rint(samples).astype(np.int16))
        return path

    return make


@pytest.fixture
def baresip_factory(tmp_path: Path) -> Iterator[Callable[..., Baresip]]:
    started: list[Baresip] = []

    def make(account: str, source_wav: Path, **kwargs: Any) -> Baresip:
        index = len(started)
        kwargs.setdefault("rtp_ports", (30000 + 1000 * index, 30999 + 1000 * index))
        phone = Baresip(
            workdir=tmp_path / f"baresip{index}", source_wav=source_wav, account=account, **kwargs
        )
        started.append(phone)
        phone.start()
        return phone

    yield make
    for phone in started:
        phone.stop()
