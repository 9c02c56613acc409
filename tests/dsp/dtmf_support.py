"""Shared helpers for the DTMF / tone tests and ``bench/bench_dtmf.py``.

- Real channel effects: G.711 µ-law round trip, white noise at a given SNR.
- A talk-off corpus made with espeak-ng (many voices, pitches, speeds and languages),
  band-limited to 300–3400 Hz and resampled to 8 kHz by sox, at varied speech levels.
- Synthetic music: chords of harmonic-rich notes.
- Independent references: spandsp's ``dtmf_rx`` via ctypes (libspandsp.so.2) and
  ``multimon-ng -a DTMF`` (raw s16le at 22050 Hz, resampled by sox).
"""

from __future__ import annotations

import ctypes
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ata.dsp.levels import dbm0_to_amplitude, rms_dbm0, to_int16
from ata.media import g711

Samples = npt.NDArray[np.int16]

# -- channel ----------------------------------------------------------------------------------


def ulaw_round_trip(x: npt.ArrayLike) -> Samples:
    return g711.ulaw_decode(g711.ulaw_encode(to_int16(x)))


def alaw_round_trip(x: npt.ArrayLike) -> Samples:
    return g711.alaw_decode(g711.alaw_encode(to_int16(x)))


def add_noise(
    x: npt.ArrayLike, snr_db: float, signal_power: float, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """Add white Gaussian noise ``snr_db`` below ``signal_power`` (mean square, sample²)."""
    a = np.asarray(x, dtype=np.float64)
    sigma = np.sqrt(signal_power / 10.0 ** (snr_db / 10.0))
    return a + rng.normal(0.0, sigma, a.shape[0])


# -- talk-off material -------------------------------------------------------------------------

TEXTS: dict[str, str] = {
    "en-us": "Hello, this is a test of the telephone line. Please call me back at "
    "four five six, seven eight nine one, after lunch on Tuesday. Thanks a lot!",
    "en-gb": "Good morning. The weather forecast promises heavy rain, so bring an umbrella "
    "and mind the gap between the train and the platform edge.",
    "de": "Guten Tag, hier spricht der automatische Anrufbeantworter. Bitte hinterlassen "
    "Sie eine Nachricht nach dem Signalton, wir rufen zurück.",
    "fr-fr": "Bonjour, je voudrais réserver une table pour quatre personnes ce soir vers "
    "vingt heures, s'il vous plaît, près de la fenêtre.",
    "es": "Buenas tardes, le llamo para confirmar la cita del martes a las diez y media. "
    "Muchas gracias y hasta pronto.",
    "it": "Pronto, mi senti? La linea è disturbata, ti richiamo fra cinque minuti "
    "quando arrivo in ufficio.",
    "pt": "Olá, tudo bem? Estou ligando para saber se a encomenda já chegou ao armazém "
    "de Lisboa ou se ainda está a caminho.",
    "nl": "Hallo, met Jan. Ik sta in de file op de snelweg en kom ongeveer een half uur "
    "later dan gepland.",
    "sv": "Hej, det här är ett meddelande från tandläkaren om din tid på torsdag "
    "klockan nio på morgonen.",
    "pl": "Dzień dobry, dzwonię w sprawie ogłoszenia o mieszkaniu do wynajęcia w centrum "
    "miasta, czy jest jeszcze aktualne?",
    "ru": "Здравствуйте, вас беспокоит служба доставки. Ваш заказ будет доставлен "
    "завтра с девяти до двенадцати часов.",
    "ja": "もしもし、田中です。明日の会議の時間を確認したいのですが、よろしいでしょうか。",
}

VARIANTS: tuple[str, ...] = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3", "croak", "grandma", "Annie", "Alex", "Andy",
)  # fmt: skip


def espeak_utterance(text: str, voice: str, pitch: int, speed: int) -> Samples:
    """One utterance, telephone band (300–3400 Hz), 8 kHz int16 (unnormalised)."""
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "--stdout", text],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    raw = subprocess.run(
        ["sox", "-t", "wav", "-", "-t", "raw", "-r", "8000", "-e", "signed", "-b", "16",
         "-c", "1", "-", "sinc", "300-3400"],
        input=wav,
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, dtype="<i2").astype(np.int16)


def speech_corpus(seconds: float, seed: int = 7) -> Iterator[tuple[str, Samples]]:
    """Yield (label, µ-law round-tripped 8 kHz speech) until about ``seconds`` are produced.

    Each utterance gets a random voice variant, pitch (10–90), speed (120–230 wpm) and an
    active speech level between −28 and −10 dBm0.
    """
    rng = np.random.default_rng(seed)
    langs = list(TEXTS)
    produced = 0.0
    k = 0
    while produced < seconds:
        lang = langs[k % len(langs)]
        variant = VARIANTS[int(rng.integers(len(VARIANTS)))]
        pitch, speed = int(rng.integers(10, 91)), int(rng.integers(120, 231))
        x = espeak_utterance(TEXTS[lang], f"{lang}+{variant}", pitch, speed).astype(np.float64)
        k += 1
        active = x[np.abs(x) > 0.02 * max(1.0, float(np.abs(x).max()))]
        if active.size == 0:
            continue
        level = float(rng.uniform(-28.0, -10.0))
        x *= 10.0 ** ((level - rms_dbm0(active)) / 20.0)
        produced += x.shape[0] / 8000.0
        yield f"{lang}+{variant} p{pitch} s{speed} {level:.0f}dBm0", ulaw_round_trip(x)


NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def note_freq(midi: int) -> float:
    return float(440.0 * 2.0 ** ((midi - 69) / 12.0))


def music_chords(seconds: float, seed: int = 11) -> Samples:
    """Chords (triads and sevenths over several octaves) of notes with decaying harmonics."""
    rng = np.random.default_rng(seed)
    out: list[npt.NDArray[np.float64]] = []
    total = 0
    shapes = ((0, 4, 7), (0, 3, 7), (0, 4, 7, 10), (0, 3, 7, 10), (0, 4, 7, 11), (0, 5, 7))
    while total < seconds * 8000:
        dur = int(rng.integers(2000, 8000))
        root = int(rng.integers(48, 80))
        shape = shapes[int(rng.integers(len(shapes)))]
        t = np.arange(dur) / 8000.0
        chord = np.zeros(dur)
        for interval in shape:
            f0 = note_freq(root + interval)
            for h in range(1, 9):
                if f0 * h < 3600:
                    chord += np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6.28)) / h**1.2
        env = np.minimum(1.0, t / 0.02) * np.exp(-t * float(rng.uniform(0.5, 3.0)))
        chord *= env
        level = float(rng.uniform(-25.0, -8.0))
        chord *= dbm0_to_amplitude(level) / max(1e-9, float(np.sqrt(2 * np.mean(chord**2))))
        out.append(chord)
        total += dur
    return ulaw_round_trip(np.concatenate(out))


# -- spandsp (ctypes) -----------------------------------------------------------------------------

_DIGITS_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int)


class SpanDspDtmf:
    """spandsp's DTMF receiver through ctypes: ``feed(samples) -> digits so far``."""

    def __init__(self, library: str) -> None:
        lib = ctypes.CDLL(library)
        lib.dtmf_rx_init.restype = ctypes.c_void_p
        lib.dtmf_rx_init.argtypes = [ctypes.c_void_p, _DIGITS_CB, ctypes.c_void_p]
        lib.dtmf_rx.restype = ctypes.c_int
        lib.dtmf_rx.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int16), ctypes.c_int]
        lib.dtmf_rx_free.argtypes = [ctypes.c_void_p]
        self._lib = lib
        self.digits = ""

        def on_digits(_user: int | None, digits: bytes, length: int) -> None:
            self.digits += digits[:length].decode("ascii", "replace")

        self._cb = _DIGITS_CB(on_digits)  # keep a reference while the state lives
        self._state = lib.dtmf_rx_init(None, self._cb, None)
        if not self._state:
            raise RuntimeError("dtmf_rx_init failed")

    def feed(self, samples: Samples) -> str:
        buf = np.ascontiguousarray(samples, dtype=np.int16)
        self._lib.dtmf_rx(
            self._state, buf.ctypes.data_as(ctypes.POINTER(ctypes.c_int16)), buf.shape[0]
        )
        return self.digits

    def close(self) -> None:
        if self._state:
            self._lib.dtmf_rx_free(self._state)
            self._state = None


def spandsp_decode(library: str, samples: Samples, frame: int = 160) -> str:
    rx = SpanDspDtmf(library)
    try:
        x = np.asarray(samples, dtype=np.int16)
        for i in range(0, x.shape[0], frame):
            rx.feed(x[i : i + frame])
        rx.feed(np.zeros(800, dtype=np.int16))
        return rx.digits
    finally:
        rx.close()


# -- multimon-ng --------------------------------------------------------------------------------


def multimon_decode(samples: Samples, workdir: Path) -> str:
    """Digits multimon-ng finds in 8 kHz ``samples`` (resampled to 22050 Hz raw by sox)."""
    src = workdir / "mm_in.raw"
    dst = workdir / "mm_22050.raw"
    np.asarray(samples, dtype="<i2").tofile(src)
    subprocess.run(
        ["sox", "-t", "raw", "-r", "8000", "-e", "signed", "-b", "16", "-c", "1", str(src),
         "-t", "raw", "-r", "22050", "-e", "signed", "-b", "16", "-c", "1", str(dst)],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    out = subprocess.run(
        ["multimon-ng", "-q", "-a", "DTMF", "-t", "raw", str(dst)],
        check=True,
        capture_output=True,
        timeout=60,
        text=True,
    ).stdout
    return "".join(
        line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("DTMF:")
    )


def count_digits(text: str, allowed: Sequence[str] = "0123456789*#ABCD") -> int:
    return sum(1 for ch in text if ch in allowed)
