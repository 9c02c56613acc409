"""Independent caller ID decoders (multimon-ng, minimodem, spandsp adsi_rx) driven on 8 kHz audio.

Used by the caller ID tests and by ``bench/bench_callerid.py``. Each decoder returns the list of
messages it decoded as dicts {"date", "number", "name"} (missing fields absent), in order.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ata.dsp.wavio import write_wav

ADSI_STANDARD_CLASS = 1
ADSI_STANDARD_CLIP = 2
_PUT_MSG = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_int)


def have_spandsp() -> bool:
    return ctypes.util.find_library("spandsp") is not None


def spandsp_decode(
    samples: np.ndarray, standard: int = ADSI_STANDARD_CLASS
) -> list[dict[str, str]]:
    """Run spandsp's adsi_rx over the samples; parse each delivered message with adsi_next_field."""
    lib = ctypes.CDLL(ctypes.util.find_library("spandsp") or "libspandsp.so.2")
    lib.adsi_rx_init.restype = ctypes.c_void_p
    lib.adsi_rx_init.argtypes = [ctypes.c_void_p, ctypes.c_int, _PUT_MSG, ctypes.c_void_p]
    lib.adsi_rx.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int16), ctypes.c_int]
    lib.adsi_next_field.argtypes = [
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_uint8),
        ctypes.c_int,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_uint8),
        ctypes.POINTER(ctypes.POINTER(ctypes.c_uint8)),
        ctypes.POINTER(ctypes.c_int),
    ]
    lib.adsi_rx_free.argtypes = [ctypes.c_void_p]
    raw_msgs: list[bytes] = []

    def on_msg(_user: int, msg: ctypes.POINTER(ctypes.c_uint8), length: int) -> None:  # type: ignore[valid-type]
        if length > 0:
            raw_msgs.append(ctypes.string_at(msg, length))

    cb = _PUT_MSG(on_msg)
    state = lib.adsi_rx_init(None, standard, cb, None)
    pcm = np.ascontiguousarray(samples, dtype=np.int16)
    for i in range(0, pcm.size, 160):
        block = pcm[i : i + 160]
        lib.adsi_rx(state, block.ctypes.data_as(ctypes.POINTER(ctypes.c_int16)), block.size)
    out = []
    for raw in raw_msgs:
        buf = (ctypes.c_uint8 * len(raw)).from_buffer_copy(raw)
        fields: dict[str, str] = {}
        pos = -1
        ftype = ctypes.c_uint8()
        body = ctypes.POINTER(ctypes.c_uint8)()
        flen = ctypes.c_int()
        for _ in range(64):
            pos = lib.adsi_next_field(
                state,
                buf,
                len(raw),
                pos,
                ctypes.byref(ftype),
                ctypes.byref(body),
                ctypes.byref(flen),
            )
            if flen.value < 0:
                break
            value = ctypes.string_at(body, flen.value).decode("latin-1") if flen.value > 0 else ""
            t = ftype.value
            if t == 0x01 and pos > 0 and len(value) == 8 and raw[0] == 0x80:
                fields["date"] = value
            elif t == 0x02 and raw[0] in (0x80,):
                fields["number"] = value
            elif t == 0x07:
                fields["name"] = value
            elif t == 0x04 and raw[0] == 0x80:
                fields["number_absent"] = value
            elif raw[0] == 0x04 and flen.value > 8:
                # SDMF: spandsp hands over the body (date then number) as one field
                fields["date"], fields["number"] = value[:8], value[8:]
        fields["_type"] = f"{raw[0]:02x}"
        out.append(fields)
    lib.adsi_rx_free(state)
    return out


def _wav_tmp(samples: np.ndarray, folder: Path) -> Path:
    path = folder / "cid.wav"
    write_wav(path, np.asarray(samples, dtype=np.int16))
    return path


_MM_RE = re.compile(r"CLIPFSK: .*?(?:DATE=(\d{8}))?\s*(?:CID=(\S*))?\s*(?:CNT=(.*))?$")


def multimon_decode(samples: np.ndarray) -> list[dict[str, str]]:
    """multimon-ng -a CLIPFSK on the audio resampled to 22050 Hz raw s16 by sox."""
    with tempfile.TemporaryDirectory() as d:
        wav = _wav_tmp(samples, Path(d))
        raw = Path(d) / "cid.raw"
        subprocess.run(
            [
                shutil.which("sox") or "sox",
                str(wav),
                "-t",
                "raw",
                "-r",
                "22050",
                "-e",
                "signed",
                "-b",
                "16",
                "-c",
                "1",
                str(raw),
            ],
            check=True,
            capture_output=True,
        )
        res = subprocess.run(
            [
                shutil.which("multimon-ng") or "multimon-ng",
                "-q",
                "-c",
                "-a",
                "CLIPFSK",
                "-t",
                "raw",
                str(raw),
            ],
            capture_output=True,
            encoding="latin-1",
            timeout=120,
            check=False,
        )
    out = []
    for line in res.stdout.splitlines():
        if not line.startswith("CLIPFSK:"):
            continue
        fields: dict[str, str] = {}
        for key, name in (("DATE", "date"), ("CID", "number")):
            m = re.search(rf"\b{key}=(\S+)", line)
            if m:
                fields[name] = m.group(1)
        m = re.search(r"\bCNT=(.*)$", line)
        if m:
            fields["name"] = m.group(1).rstrip()
        out.append(fields)
    return out


def minimodem_decode(samples: np.ndarray) -> list[dict[str, str]]:
    """minimodem --rx callerid -f WAV; parses its Time/Phone/Name blocks."""
    with tempfile.TemporaryDirectory() as d:
        wav = _wav_tmp(samples, Path(d))
        res = subprocess.run(
            [shutil.which("minimodem") or "minimodem", "--rx", "callerid", "-q", "-f", str(wav)],
            capture_output=True,
            encoding="latin-1",
            timeout=120,
            check=False,
        )
    out: list[dict[str, str]] = []
    cur: dict[str, str] | None = None
    for line in res.stdout.splitlines():
        line = line.rstrip()
        if line.startswith("CALLER-ID"):
            cur = {}
            out.append(cur)
        elif cur is not None and line.startswith("Time:"):
            m = re.match(r"Time:\s+(\d\d)/(\d\d) (\d\d):(\d\d)", line)
            if m:
                cur["date"] = "".join(m.groups())
        elif cur is not None and line.startswith("Phone:"):
            cur["number"] = line.split(":", 1)[1].strip().replace("-", "")
        elif cur is not None and line.startswith("Name:"):
            cur["name"] = line.split(":", 1)[1].strip()
    return out


ADSI_STANDARD_CLIP_DTMF = 5


def spandsp_dtmf_decode(samples: np.ndarray) -> list[str]:
    """spandsp adsi_rx in CLIP-DTMF mode: the raw digit strings it delivers."""
    lib = ctypes.CDLL(ctypes.util.find_library("spandsp") or "libspandsp.so.2")
    lib.adsi_rx_init.restype = ctypes.c_void_p
    lib.adsi_rx_init.argtypes = [ctypes.c_void_p, ctypes.c_int, _PUT_MSG, ctypes.c_void_p]
    lib.adsi_rx.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int16), ctypes.c_int]
    lib.adsi_rx_free.argtypes = [ctypes.c_void_p]
    got: list[str] = []

    def on_msg(_user: int, msg: ctypes.POINTER(ctypes.c_uint8), length: int) -> None:  # type: ignore[valid-type]
        if length > 0:
            got.append(ctypes.string_at(msg, length).decode("latin-1"))

    cb = _PUT_MSG(on_msg)
    state = lib.adsi_rx_init(None, ADSI_STANDARD_CLIP_DTMF, cb, None)
    pcm = np.ascontiguousarray(samples, dtype=np.int16)
    for i in range(0, pcm.size, 160):
        block = pcm[i : i + 160]
        lib.adsi_rx(state, block.ctypes.data_as(ctypes.POINTER(ctypes.c_int16)), block.size)
    lib.adsi_rx_free(state)
    return got
