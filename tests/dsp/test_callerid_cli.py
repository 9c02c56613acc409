"""``ata dsp callerid-encode/-decode`` and ``ata dsp echo-cancel`` end to end on WAV files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ata.cli import main
from ata.dsp.levels import to_int16
from ata.dsp.wavio import read_wav, write_wav
from tests.dsp.echo_model import hybrid_response, synthetic_speech


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (
            ["--standard", "bell202", "--number", "5551234567", "--name", "JOHN DOE"],
            ["bell202:", "number: 5551234567", "name: JOHN DOE"],
        ),
        (
            ["--standard", "v23", "--absent", "P", "--name-absent", "O"],
            ["v23:", "number absent: P (private)", "name absent: O"],
        ),
        (
            ["--standard", "bell202", "--sdmf", "--number", "5551234"],
            ["SDMF_CALLER_ID", "number: 5551234"],
        ),
        (
            ["--standard", "dtmf", "--number", "0123456789", "--framing", "dk"],
            ["dtmf: A0123456789#", "number: 0123456789"],
        ),
        (["--vmwi", "on"], ["MDMF_VMWI", "message waiting: on"]),
        (["--number", "5551234567", "--call-waiting"], ["bell202:", "number: 5551234567"]),
    ],
)
def test_encode_then_decode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], expect: list[str]
) -> None:
    wav = tmp_path / "cid.wav"
    assert main(["dsp", "callerid-encode", *args, "--date", "11241305", "-o", str(wav)]) == 0
    capsys.readouterr()
    assert main(["dsp", "callerid-decode", str(wav)]) == 0
    out = capsys.readouterr().out
    for line in expect:
        assert line in out


def test_decode_reports_nothing_on_silence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wav = tmp_path / "silence.wav"
    write_wav(wav, np.zeros(8000, np.int16))
    assert main(["dsp", "callerid-decode", str(wav)]) == 1
    assert "no caller ID" in capsys.readouterr().out


def test_echo_cancel_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    far = to_int16(synthetic_speech(4.0, seed=2))
    near = to_int16(np.convolve(far.astype(float), hybrid_response(10.0))[: far.size])
    write_wav(tmp_path / "far.wav", far)
    write_wav(tmp_path / "near.wav", near)
    out_wav = tmp_path / "out.wav"
    assert (
        main(
            [
                "dsp",
                "echo-cancel",
                "--far",
                str(tmp_path / "far.wav"),
                "--near",
                str(tmp_path / "near.wav"),
                "-o",
                str(out_wav),
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    per_second = [float(line.split()[1]) for line in lines[1:5]]
    assert per_second[-1] > 30.0
    assert read_wav(out_wav).size == far.size // 160 * 160


def test_echo_cancel_cli_with_nlp(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    far = to_int16(synthetic_speech(3.0, seed=2))
    near = to_int16(np.convolve(far.astype(float), hybrid_response(10.0))[: far.size])
    write_wav(tmp_path / "far.wav", far)
    write_wav(tmp_path / "near.wav", near)
    args = ["--far", str(tmp_path / "far.wav"), "--near", str(tmp_path / "near.wav"), "--nlp"]
    assert main(["dsp", "echo-cancel", *args, "-o", str(tmp_path / "o.wav")]) == 0
    assert "total" in capsys.readouterr().out
