"""libspeexdsp's echo canceller through ctypes (reference for tests and the bench)."""

from __future__ import annotations

import ctypes
import ctypes.util

import numpy as np

SPEEX_ECHO_SET_SAMPLING_RATE = 24


class SpeexEcho:
    def __init__(self, frame: int = 160, tail_samples: int = 256, rate: int = 8000) -> None:
        name = ctypes.util.find_library("speexdsp") or "libspeexdsp.so.1"
        lib = ctypes.CDLL(name)
        lib.speex_echo_state_init.restype = ctypes.c_void_p
        lib.speex_echo_state_init.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.speex_echo_cancellation.argtypes = [ctypes.c_void_p] + [
            ctypes.POINTER(ctypes.c_int16)
        ] * 3
        lib.speex_echo_ctl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
        lib.speex_echo_state_destroy.argtypes = [ctypes.c_void_p]
        self._lib = lib
        self._st = lib.speex_echo_state_init(frame, tail_samples)
        r = ctypes.c_int(rate)
        lib.speex_echo_ctl(self._st, SPEEX_ECHO_SET_SAMPLING_RATE, ctypes.byref(r))
        self._out = np.zeros(frame, np.int16)
        self._p = ctypes.POINTER(ctypes.c_int16)

    def process(self, near: np.ndarray, far: np.ndarray) -> np.ndarray:
        n = np.ascontiguousarray(near, np.int16)
        f = np.ascontiguousarray(far, np.int16)
        out = np.empty_like(n)
        self._lib.speex_echo_cancellation(
            self._st,
            n.ctypes.data_as(self._p),
            f.ctypes.data_as(self._p),
            out.ctypes.data_as(self._p),
        )
        return out

    def close(self) -> None:
        if self._st:
            self._lib.speex_echo_state_destroy(self._st)
            self._st = None
