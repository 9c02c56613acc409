"""Line echo canceller for the 2-wire hybrid: frequency-domain block NLMS (MDF) in numpy.

Theory of operation
-------------------
The SLIC's 2-wire/4-wire hybrid leaks part of what we play to the phone (the far end, ``far``)
back into what we capture (``near``): echo = h ∗ far with h a few ms of bulk delay followed by a
short dispersive response, 6–20 dB down. The canceller estimates h and subtracts ĥ ∗ far.

Algorithm: multidelay block frequency-domain adaptive filter (MDF, Soo & Pang 1990) with one
block per 20 ms frame (N = 160, FFT size 2N, overlap-save) and K = ⌈tail/20 ms⌉ partitions.
Per frame: FFT the last 2N far samples, filter (Σ_k W_k·X_k), take the last N output samples
as the echo estimate, FFT the zero-padded error, update every partition with a per-bin
normalised step ``μ·X̄_k·E / (P + δ)`` where P is a smoothed far-end power spectrum, then apply
the gradient constraint (IFFT, zero the second half, FFT) so the filter stays a true linear
convolution — without it the steady state is limited to about 25 dB by circular wrap-around.

Control:

- *Double talk* (near-end speech on top of echo must not be learned as echo): a Geigel
  detector on frame powers (near power > ¼ of the strongest far frame power over the tail
  window, i.e. assumes ERL ≥ 6 dB) plus
  an energy check (near power far above the echo predicted by the filter once it is
  converged); either freezes adaptation for the frame and a 60 ms hangover.
- *Echo path change / divergence*: if the output is louder than the input in 10 active frames,
  the filter no longer fits (near-end speech cannot cause that) and is reset and re-learned;
  an error-check "double talk" lasting 50 active frames is also taken as a path change.
- *Far end silent*: no adaptation (nothing to learn from, only noise).
- ``nlp=True`` adds :class:`ata.dsp.echo_nlp.ComfortNoiseNlp`: echo-only frames are replaced
  by comfort noise at the line's background level (off by default; the ERLE figures below are
  without it).
- ``enabled`` toggles cancellation (frames pass through unchanged); ``disable()`` is what the
  line layer calls when DSP-1's CED/ANSam detector (``ata.dsp.fax``) sees 2100 Hz with phase
  reversals, as G.164/G.165 require for V-series modems and fax; ``enable()`` re-arms it.

Choice (measured with ``bench/bench_echo.py`` on the synthetic hybrid of the tests: 4 ms bulk
+ 8 ms dispersive, ERL 10 dB, −65 dBm0 noise; ERLE = echo / residual echo, per 0.5 s):

===========================  ==================  ============  ==========================
canceller                    steady-state ERLE   after 1 s     median cost per 20 ms frame
===========================  ==================  ============  ==========================
pi-ata MDF, tail 20 ms       52 dB (CSS), 52 dB  38 / 24 dB    34 µs (2 shared cores)
libspeexdsp 160/256 (ctypes) 39 dB, 38 dB        30 / 22 dB    26 µs
===========================  ==================  ============  ==========================

(first figure composite-source-like speech, second espeak-ng speech.)
pi-ata's own filter is chosen: about 13 dB more echo attenuation without any NLP (speex's MDF is
tuned for acoustic echo, its adaptive step stays conservative), narrowband and double-talk guards
that the tests check, no native library to ship or load through ctypes in a sans-IO core, and
bit-exact deterministic output. It costs about 1.1–1.3× speex's CPU (numpy call overhead:
one two-row and one inverse 320-point FFT and a 160-tap correlation per adapting frame, all
into preallocated buffers; scipy.fft measured no faster for this size); on a Pi Zero that is
the price to watch. Longer tails (``tail_ms`` > 20) use more partitions, converge more slowly
(the step is divided among them) and cost about 10 µs more per partition.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from ata.dsp.echo_nlp import ComfortNoiseNlp
from ata.dsp.levels import FRAME_SAMPLES, SAMPLE_RATE, Samples, dbm0_to_amplitude

N: Final = FRAME_SAMPLES
_FFT: Final = 2 * N
_SILENCE_POWER: Final = (dbm0_to_amplitude(-50.0) ** 2) / 2.0  # far end below this: idle
_HANGOVER_FRAMES: Final = 3
_TONE_BINS: Final = 6  # two tones, three bins each
_TONE_SHARE: Final = 0.9
_CONVERGED_DB: Final = 20.0  # smoothed ERLE above which the error check counts
_PATH_CHANGE_FRAMES: Final = 50  # active frames of 'double talk' by the error check alone
_BAD_FRAMES_RESET: Final = 10  # active frames with output > input before a reset


@dataclass(frozen=True)
class EchoStats:
    """Per-frame figures for logs, tests and the bench."""

    near_power: float
    out_power: float
    double_talk: bool
    adapted: bool


class EchoCanceller:
    """Frame-by-frame echo canceller: ``process(near, far) -> near with the echo removed``."""

    def __init__(
        self,
        tail_ms: float = 20.0,
        *,
        step: float = 0.85,
        geigel_threshold: float = 0.5,
        p_keep: float = 0.98,
        refine_below_db: float = 20.0,
        relative_floor: float = 0.01,
        nlp: bool = False,
    ) -> None:
        if not 0 < tail_ms <= 256:
            raise ValueError("tail_ms must be in (0, 256]")
        self.tail_ms = tail_ms
        self.partitions = max(1, math.ceil(tail_ms * SAMPLE_RATE / 1000.0 / N))
        self.step = step
        self.geigel_threshold = geigel_threshold
        self.enabled = True
        self._bins = N + 1
        self._taps = N * self.partitions
        # Time-domain echo path estimate, stored time-reversed: y = correlate(far, w_rev) is
        # the convolution without np.convolve's per-call reversal and copy.
        self._w_rev = np.zeros(self._taps)
        self._x = np.zeros((self.partitions, self._bins), dtype=np.complex128)
        self._far = np.zeros(self._taps + N)  # far history: the tail plus this frame
        self._p = np.full(self._bins, 1.0)
        self._delta = float(_FFT * _SILENCE_POWER)
        # Preallocated FFT buffers. Row 0: the far window (2N), row 1: [zeros, error]; one
        # rfft call transforms both (a single partition adapts from exactly these two).
        self._fft_in = np.zeros((2, _FFT))
        self._e2 = self._fft_in[1]
        self._spec = np.zeros((2, self._bins), dtype=np.complex128)
        self._g = np.zeros((self.partitions, self._bins), dtype=np.complex128)
        self._grad = np.zeros((self.partitions, _FFT))
        self._scale = np.zeros(self._bins)
        self._far_pows = [0.0] * (self.partitions + 1)  # far power of the frames in the tail
        self._geigel_pow = geigel_threshold * geigel_threshold
        self._p_keep = p_keep
        self.relative_floor = relative_floor
        self._floor_per_bin = relative_floor / (N + 1)
        self.refine_below = refine_below_db
        self._mu = step / self.partitions
        self._hangover = 0
        self._suspect = 0
        self._far_prev_pow = 0.0
        self._far_prev_pow_old = 0.0
        self._bad_frames = 0
        self._erle_smooth = 0.0  # smoothed per-frame ERLE in dB while adapting
        self._stats: tuple[float, float, bool, bool] | None = None
        self.nlp = ComfortNoiseNlp() if nlp else None
        self.resets = 0

    # -- control -------------------------------------------------------------------------------
    def disable(self) -> None:
        """Stop cancelling (e.g. 2100 Hz answer tone with phase reversals: modem/fax call)."""
        self.enabled = False

    def enable(self) -> None:
        self.enabled = True

    def reset(self) -> None:
        """Forget the learned echo path."""
        self._w_rev[:] = 0.0
        self._x[:] = 0
        self._p[:] = 1.0
        self._hangover = 0
        self._bad_frames = 0
        self._suspect = 0
        self._erle_smooth = 0.0
        self.resets += 1

    # -- processing ----------------------------------------------------------------------------
    def _update(
        self,
        xf: npt.NDArray[np.complex128],
        ef: npt.NDArray[np.complex128],
        scale: npt.NDArray[np.float64],
        multi: bool,
    ) -> None:
        """w += μ·IFFT(X̄·E/(P+δ)), first N taps (the gradient constraint, in the time domain)."""
        g, grad = self._g, self._grad
        if multi:
            np.conjugate(self._x, out=g)
            g *= ef * scale
            np.fft.irfft(g, axis=-1, out=grad)
            self._w_rev += grad[:, :N].ravel()[::-1]
        else:
            g0 = g[0]
            np.multiply(ef, scale, out=g0)
            g0 *= np.conjugate(xf)
            np.fft.irfft(g0, out=grad[0])
            self._w_rev += grad[0, N - 1 :: -1]

    def process(self, near: npt.ArrayLike, far: npt.ArrayLike) -> Samples:
        """Cancel one 160-sample frame. ``far`` is what was played to the line in this frame."""
        d = np.asarray(near).astype(np.float64)
        f = np.asarray(far).astype(np.float64)
        if d.shape != (N,) or f.shape != (N,):
            raise ValueError(f"frames must be {N} samples")
        far_ext = self._far
        far_ext[:-N] = far_ext[N:]
        far_ext[-N:] = f
        multi = self.partitions > 1
        if multi:
            self._x[1:] = self._x[:-1]
            np.fft.rfft(far_ext[-2 * N :], out=self._x[0])
        if not self.enabled:
            return np.asarray(near, dtype=np.int16).copy()
        y = np.correlate(far_ext[1:], self._w_rev, mode="valid")  # ĥ ∗ far, this frame
        e = d - y
        near_pow = float(d @ d) / N
        out_pow = float(e @ e) / N
        far_pow = float(f @ f) / N
        pows = self._far_pows
        pows.pop(0)
        pows.append(far_pow)
        # Double talk: Geigel on frame powers; once the filter is good, also an energy check
        # (near far above the predicted echo) and an error check (output not far below the echo
        # estimate, which a converged filter never leaves unless someone talks on the near end).
        converged = self._erle_smooth > _CONVERGED_DB
        echo_pow = float(y @ y) / N if converged else 0.0
        dt = near_pow > _SILENCE_POWER and (
            near_pow > self._geigel_pow * max(pows)
            or (converged and near_pow > 4.0 * (echo_pow + _SILENCE_POWER))
        )
        if converged and not dt and far_pow > _SILENCE_POWER and echo_pow > 4.0 * _SILENCE_POWER:
            if out_pow > 0.1 * echo_pow:
                # Suspect frames add up (far-silent and clear double-talk frames do not reset
                # them); only a frame the filter clearly handles does.
                self._suspect += 1
                if self._suspect <= _PATH_CHANGE_FRAMES:
                    dt = True
                else:  # too long for a talker: treat it as an echo path change, re-learn
                    self._erle_smooth = 0.0
                    self._suspect = 0
            else:
                self._suspect = 0
        if dt:
            self._hangover = _HANGOVER_FRAMES
        elif self._hangover > 0:
            self._hangover -= 1
        # Adapt only on far-end activity filling the whole FFT window (onsets are transients).
        adapt = self._hangover == 0 and min(far_pow, self._far_prev_pow) > _SILENCE_POWER
        self._far_prev_pow_old = self._far_prev_pow
        self._far_prev_pow = far_pow
        if adapt:
            spec = self._spec
            if multi:
                xf = self._x[0]
            else:  # far window and error in one rfft call
                self._fft_in[0] = far_ext[-2 * N :]
                self._e2[N:] = e
                np.fft.rfft(self._fft_in, out=spec)
                xf = spec[0]
            sq = xf.view(np.float64) ** 2
            pw = sq[0::2] + sq[1::2]
            # Narrowband far end (dial tone, DTMF, single tones): in the Hann-windowed spectrum
            # (a 3-tap convolution of the rectangular one) a few bins hold nearly all the power.
            # Learning from it only fits those frequencies and drifts elsewhere, so the filter
            # is held (G.168: no divergence on tones). Speech trips this in < 5 % of frames.
            # Only a frame as strong as the previous one can be part of a steady tone.
            if abs(far_pow - self._far_prev_pow_old) < 0.3 * far_pow:
                hann = 2.0 * xf[1:-1]
                hann -= xf[:-2]
                hann -= xf[2:]
                hp = np.abs(hann)
                hp *= hp
                total = float(np.add.reduce(hp))
                hp.partition(-_TONE_BINS)  # in place: hp is this frame's temporary
                if float(np.add.reduce(hp[-_TONE_BINS:])) > _TONE_SHARE * total:
                    adapt = False
        if adapt:
            if multi:
                self._e2[N:] = e
                np.fft.rfft(self._e2, out=spec[1])
            ef = spec[1]
            p = self._p
            p *= self._p_keep
            np.maximum(p, pw, out=p)  # fast attack
            floor = self._delta + self._floor_per_bin * float(np.add.reduce(p))
            scale = np.add(p, floor, out=self._scale)
            np.divide(self._mu, scale, out=scale)
            self._update(xf, ef, scale, multi)
            if self._erle_smooth < self.refine_below:
                # Still converging: a second pass over the same frame (data reuse NLMS).
                self._e2[N:] = d - np.correlate(far_ext[1:], self._w_rev, mode="valid")
                self._update(xf, np.fft.rfft(self._e2, out=spec[1]), scale, multi)
            frame_erle = 10.0 * math.log10((near_pow + 1e-3) / (out_pow + 1e-3))
            self._erle_smooth = 0.95 * self._erle_smooth + 0.05 * min(max(frame_erle, -10.0), 60.0)
        # Divergence guard: output persistently louder than input while far end active.
        if far_pow > _SILENCE_POWER and near_pow > _SILENCE_POWER:
            # Output louder than input: near-end speech cannot do that (it passes as it is, the
            # echo is still partly removed), only a filter that no longer fits the echo path.
            if out_pow > near_pow:
                self._bad_frames += 1
                if self._bad_frames >= _BAD_FRAMES_RESET:
                    self.reset()
                    e = d
            else:
                self._bad_frames = 0
        self._stats = (near_pow, out_pow, self._hangover > 0, adapt)
        if self.nlp is not None:
            e = self.nlp.process(e, near_pow, out_pow, far_pow > _SILENCE_POWER, self._hangover > 0)
        np.rint(e, out=e)
        np.maximum(e, -32768.0, out=e)  # np.clip's wrapper costs more than the two ufuncs
        np.minimum(e, 32767.0, out=e)
        return e.astype(np.int16)

    @property
    def last(self) -> EchoStats | None:
        """Figures of the last processed frame (None before the first)."""
        return None if self._stats is None else EchoStats(*self._stats)


def erle_db(near: npt.ArrayLike, out: npt.ArrayLike) -> float:
    """Echo return loss enhancement: 10·log10(Σnear² / Σout²)."""
    a = np.asarray(near, dtype=np.float64)
    b = np.asarray(out, dtype=np.float64)
    return 10.0 * math.log10((float(a @ a) + 1e-9) / (float(b @ b) + 1e-9))
