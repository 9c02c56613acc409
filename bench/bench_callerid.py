"""Caller ID bench: pi-ata's Bell 202 MDMF burst decoded by multimon-ng, minimodem, spandsp and
pi-ata's own receiver; level sweep and SNR sweep, 30 trials per point (pooled in one file).

Run: .venv/bin/python bench/bench_callerid.py
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ata.dsp.callerid import CallerIdMessage
from ata.dsp.callerid_fsk import FskStandard, decode_fsk, render_message
from ata.dsp.levels import to_int16
from tests.dsp import cid_peers

MSG = CallerIdMessage(date="11241305", number="5551234567", name="JOHN DOE")
WANT = {"date": "11241305", "number": "5551234567", "name": "JOHN DOE"}
TRIALS = 30


def pooled(
    level: float, snr: float | None, seed: int, standard: FskStandard = FskStandard.BELL202
) -> np.ndarray:
    burst = render_message(MSG, standard, level_dbm0=level).astype(float)
    gap = np.zeros(3200)
    x = np.concatenate([np.concatenate([gap, burst]) for _ in range(TRIALS)] + [gap])
    if snr is not None:
        sigma = np.sqrt(np.mean(burst**2) / 10 ** (snr / 10))
        x = x + np.random.default_rng(seed).normal(0, sigma, x.size)
    return to_int16(x)


def ours(x: np.ndarray) -> list[dict[str, str]]:
    return [
        {"date": r.date or "", "number": r.number or "", "name": r.name or ""}
        for r in decode_fsk(x)
        if isinstance(r, CallerIdMessage)
    ]


DECODERS = {
    "pi-ata": ours,
    "spandsp": cid_peers.spandsp_decode,
    "multimon-ng": cid_peers.multimon_decode,
    "minimodem": cid_peers.minimodem_decode,
}


def hits(decoded: list[dict[str, str]]) -> int:
    return sum(1 for d in decoded if all(d.get(k) == v for k, v in WANT.items()))


def table(title: str, points: list[tuple[str, np.ndarray]]) -> None:
    print(f"== {title}: messages decoded of {TRIALS}")
    print(f"{'':>10s} " + " ".join(f"{n:>12s}" for n in DECODERS))
    with ThreadPoolExecutor(max_workers=4) as pool:
        for label, x in points:
            futs = [pool.submit(fn, x) for fn in DECODERS.values()]
            print(f"{label:>10s} " + " ".join(f"{hits(f.result()):12d}" for f in futs))


def main() -> None:
    t0 = time.perf_counter()
    table(
        "level sweep (no noise)",
        [(f"{lv:+.0f} dBm0", pooled(lv, None, 0)) for lv in range(-5, -31, -5)],
    )
    table(
        "SNR sweep at -13.5 dBm0",
        [(f"{snr:.0f} dB", pooled(-13.5, snr, snr)) for snr in (20, 15, 12, 10, 8, 6)],
    )
    v23 = [
        (f"{snr} dB", pooled(-13.5, None if snr == "inf" else float(snr), 1, FskStandard.V23))
        for snr in ("inf", "12", "8")
    ]
    print("== V.23 (ETSI) form, spandsp CLIP mode and pi-ata")
    for label, x in v23:
        sp = hits(cid_peers.spandsp_decode(x, cid_peers.ADSI_STANDARD_CLIP))
        me = sum(
            1 for r in decode_fsk(x, FskStandard.V23) if isinstance(r, CallerIdMessage) and r == MSG
        )
        print(f"{label:>10s} spandsp {sp:3d}  pi-ata {me:3d}")
    cw = render_message(MSG, call_waiting=True).astype(float)
    gap = np.zeros(3200)
    cw_file = to_int16(np.concatenate([np.concatenate([gap, cw]) for _ in range(TRIALS)] + [gap]))
    table("type 2 (call waiting) burst, no seizure, 80 marks", [("clean", cw_file)])
    burst = render_message(MSG)
    t = time.perf_counter()
    for _ in range(20):
        decode_fsk(burst)
    per = (time.perf_counter() - t) / 20
    rt = per / (burst.size / 8000) * 100
    print(
        f"pi-ata receiver: {per * 1e3:.1f} ms per {burst.size / 8000:.2f} s burst ({rt:.1f} % RT)"
    )
    print(f"bench time {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
