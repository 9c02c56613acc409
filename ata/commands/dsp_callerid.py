"""``ata dsp callerid-encode`` / ``callerid-decode``: caller ID signals to and from WAV files."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

import numpy as np

from ata.dsp.callerid import CallerIdError, CallerIdMessage, MessageType, date_field
from ata.dsp.callerid_dtmf import (
    COUNTRY_FRAMING,
    DtmfFraming,
    decode_dtmf_clip,
    encode_dtmf_clip,
    render_dtmf_clip,
)
from ata.dsp.callerid_fsk import (
    FskStandard,
    ReceiveError,
    alert_tone,
    decode_fsk,
    detect_fsk_standard,
    render_message,
)
from ata.dsp.levels import SAMPLE_RATE
from ata.dsp.wavio import WavError, read_wav, write_wav


def register(tools: Any) -> None:
    enc: argparse.ArgumentParser = tools.add_parser(
        "callerid-encode", help="write an on-hook caller ID signal (FSK or DTMF) to a WAV file"
    )
    enc.add_argument("--standard", choices=["bell202", "v23", "dtmf"], default="bell202")
    enc.add_argument("--sdmf", action="store_true", help="single data message format (Bell)")
    enc.add_argument("--number", help="calling number")
    enc.add_argument("--name", help="calling name (MDMF)")
    enc.add_argument("--absent", choices=["O", "P"], help="number absent: O unavailable, P private")
    enc.add_argument("--name-absent", choices=["O", "P"], help="name absent reason (MDMF)")
    enc.add_argument("--date", help="MMDDHHMM (default: now, local time)")
    enc.add_argument("--vmwi", choices=["on", "off"], help="send a message-waiting message")
    enc.add_argument("--level", type=float, default=-13.5, help="level in dBm0 (default -13.5)")
    enc.add_argument(
        "--framing",
        default="a_c",
        help="DTMF framing a_c|a_hash|d_c|hash, or a country code ("
        + ",".join(COUNTRY_FRAMING)
        + ")",
    )
    enc.add_argument("--dtas", action="store_true", help="precede the FSK with a DT-AS alert")
    enc.add_argument(
        "--call-waiting",
        action="store_true",
        help="type 2 (off-hook) form: CAS, 100 ms for the ACK, FSK with 80 mark bits",
    )
    enc.add_argument("--pad", type=float, default=0.1, help="seconds of silence around it")
    enc.add_argument("-o", "--output", required=True, help="output WAV (8 kHz, 16-bit)")
    enc.set_defaults(handler=run_encode)
    dec: argparse.ArgumentParser = tools.add_parser(
        "callerid-decode", help="decode caller ID (Bell 202, V.23 FSK or DTMF) from a WAV file"
    )
    dec.add_argument("input", help="input WAV (8 kHz mono; PCM, µ-law or A-law)")
    dec.set_defaults(handler=run_decode)


def _message(args: argparse.Namespace) -> CallerIdMessage:
    if args.vmwi:
        t = MessageType.SDMF_VMWI if args.sdmf else MessageType.MDMF_VMWI
        return CallerIdMessage(t, vmwi=args.vmwi == "on")
    date = args.date if args.date else date_field(dt.datetime.now())
    if args.sdmf:
        return CallerIdMessage(
            MessageType.SDMF_CALLER_ID, date=date, number=args.number, number_absent=args.absent
        )
    return CallerIdMessage(
        MessageType.MDMF_CALLER_ID,
        date=date,
        number=args.number,
        number_absent=args.absent,
        name=args.name,
        name_absent=args.name_absent,
    )


def run_encode(args: argparse.Namespace) -> int:
    pad = np.zeros(round(args.pad * SAMPLE_RATE), dtype=np.int16)
    try:
        if args.standard == "dtmf":
            key = args.framing.lower()
            framing = COUNTRY_FRAMING.get(key) or DtmfFraming(key)
            digits = encode_dtmf_clip(args.number, framing, absent=args.absent)
            signal = render_dtmf_clip(digits, level_dbm0=args.level + 4.0)
            print(f"DTMF CLIP {digits}")
        else:
            standard = FskStandard(args.standard)
            msg = _message(args)
            signal = render_message(
                msg, standard, level_dbm0=args.level, call_waiting=args.call_waiting
            )
            if args.call_waiting:
                gap = np.zeros(round(0.1 * SAMPLE_RATE), dtype=np.int16)
                signal = np.concatenate([alert_tone(0.08, level_dbm0=-15.0), gap, signal])
            elif args.dtas:
                gap = np.zeros(round(0.1 * SAMPLE_RATE), dtype=np.int16)
                signal = np.concatenate([alert_tone(0.1, level_dbm0=args.level - 3), gap, signal])
            for key, value in msg.describe():
                print(f"{key}: {value}")
    except (CallerIdError, ValueError) as exc:
        print(f"error: {exc}")
        return 2
    out = np.concatenate([pad, signal, pad])
    write_wav(args.output, out)
    print(f"wrote {args.output}: {out.size / SAMPLE_RATE:.3f} s")
    return 0


def run_decode(args: argparse.Namespace) -> int:
    try:
        samples = read_wav(args.input)
    except (OSError, WavError) as exc:
        print(f"error: {exc}")
        return 2
    found = 0
    errors = 0
    first = detect_fsk_standard(samples)
    order = (first, FskStandard.V23 if first is FskStandard.BELL202 else FskStandard.BELL202)
    for standard in order:
        for result in decode_fsk(samples, standard):
            if isinstance(result, ReceiveError):
                errors += 1
                print(f"{standard.value}: error: {result.reason} ({result.data.hex()})")
                continue
            found += 1
            print(f"{standard.value}:")
            for key, value in result.describe():
                print(f"  {key}: {value}")
        if found:
            break
    if not found:
        digits, msg = decode_dtmf_clip(samples)
        if msg is not None:
            found += 1
            print(f"dtmf: {digits}")
            for key, value in msg.describe()[1:]:
                print(f"  {key}: {value}")
        elif digits:
            errors += 1
            print(f"dtmf: error: not a caller ID string: {digits}")
    if not found:
        print("no caller ID found")
        return 1
    return 0
