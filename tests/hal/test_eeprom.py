"""HAT EEPROM parsing on generated images: valid, bad CRC, truncated, malformed; detection."""

from __future__ import annotations

import contextlib
import struct
import sys
import types
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hal.eeprom import (
    HEADER,
    build_eeprom,
    crc16,
    detect_hat,
    parse_eeprom,
    read_eeprom_raw,
    read_proc_hat,
)
from hal.errors import EepromError

UUID = "6a7e1d2c-0b3f-4e5a-9c8d-7f6e5d4c3b2a"


def reference_crc(data: bytes) -> int:
    """The eepmake algorithm, written independently: MSB-first shift of LSB-first input bits
    through poly 0x8005, 16 zero bits pushed out, then the 16-bit result bit-reversed."""
    out = 0
    for byte in data:
        for bit in range(8):
            flag = out >> 15
            out = ((out << 1) & 0xFFFF) | ((byte >> bit) & 1)
            if flag:
                out ^= 0x8005
    for _ in range(16):
        flag = out >> 15
        out = (out << 1) & 0xFFFF
        if flag:
            out ^= 0x8005
    return int(f"{out:016b}"[::-1], 2)


def test_crc_check_value() -> None:
    assert crc16(b"123456789") == 0xBB3D  # CRC-16/ARC check value


@given(st.binary(min_size=1, max_size=200))
def test_crc_matches_the_reference_algorithm(data: bytes) -> None:
    assert crc16(data) == reference_crc(data)


def test_valid_image_round_trip() -> None:
    image = build_eeprom(
        "pi-ata project",
        "pi-ata ProSLIC PCM HAT",
        product_id=0x0102,
        product_ver=3,
        hat_uuid=UUID,
        dt_overlay=b"pi-ata-proslic",
        custom=(b'{"board": "proslic-pcm"}', b"second"),
    )
    info = parse_eeprom(image)
    assert info.vendor == "pi-ata project"
    assert info.product == "pi-ata ProSLIC PCM HAT"
    assert info.product_id == 0x0102
    assert info.product_ver == 3
    assert info.uuid == UUID
    assert info.dt_overlay == b"pi-ata-proslic"
    assert info.custom == (b'{"board": "proslic-pcm"}', b"second")
    assert info.source == "eeprom"
    # Trailing erased bytes (0xFF) after eeplen are ignored, as on a real 24C32.
    assert parse_eeprom(image + b"\xff" * 100) == info


def test_bad_crc_names_the_atom() -> None:
    image = bytearray(build_eeprom("v", "p"))
    image[HEADER.size + 8 + 20] ^= 0x01  # a byte inside atom 0's vendor data
    with pytest.raises(EepromError, match=r"atom 0 \(type 1\): CRC"):
        parse_eeprom(bytes(image))


@pytest.mark.parametrize("cut", [0, 5, 11, 12, 20, 40])
def test_truncated_images(cut: int) -> None:
    image = build_eeprom("vendor", "product")
    with pytest.raises(EepromError, match=r"truncated|runs past"):
        parse_eeprom(image[:cut])


def test_blank_eeprom_and_bad_lengths() -> None:
    with pytest.raises(EepromError, match="signature"):
        parse_eeprom(b"\xff" * 64)
    image = bytearray(build_eeprom("v", "p"))
    struct.pack_into("<I", image, HEADER.size + 4, 0xFFFF)  # atom 0 dlen absurd
    with pytest.raises(EepromError, match="runs past"):
        parse_eeprom(bytes(image))
    image = bytearray(build_eeprom("v", "p"))
    image[4] = 9  # version
    with pytest.raises(EepromError, match="version"):
        parse_eeprom(bytes(image))


@given(st.binary(max_size=300))
def test_garbage_is_refused_with_eeprom_error_only(data: bytes) -> None:
    """Any byte string after the signature parses or raises EepromError, nothing else."""
    with contextlib.suppress(EepromError):
        parse_eeprom(b"R-Pi" + data)


def test_device_tree_hat_is_preferred(tmp_path: Path) -> None:
    hat = tmp_path / "hat"
    hat.mkdir()
    (hat / "vendor").write_bytes(b"pi-ata project\0")
    (hat / "product").write_bytes(b"pi-ata AG1171 I2S HAT\0")
    (hat / "product_id").write_bytes(b"0x0003\0")
    (hat / "product_ver").write_bytes(b"0x0001\0")
    (hat / "uuid").write_bytes(UUID.encode() + b"\0")
    info = read_proc_hat(hat)
    assert info is not None
    assert (info.vendor, info.product, info.product_id, info.source) == (
        "pi-ata project",
        "pi-ata AG1171 I2S HAT",
        3,
        "device-tree",
    )
    assert detect_hat(hat, i2c_bus=None) == info
    assert detect_hat(tmp_path / "absent", i2c_bus=None) is None


class Fake24C32:
    """A 24C32 on a fake ``smbus2`` module: 16-bit address pointer, sequential reads."""

    def __init__(self, image: bytes) -> None:
        self.memory = image + b"\xff" * (4096 - len(image))
        self.pointer = 0
        self.transactions: list[tuple[int, int]] = []

    def module(self) -> types.ModuleType:
        chip = self
        mod = types.ModuleType("smbus2")

        class Msg:
            def __init__(self, addr: int, data: list[int] | None, length: int) -> None:
                self.addr, self.data, self.length, self.buf = addr, data, length, b""

            def __iter__(self):  # type: ignore[no-untyped-def]
                return iter(self.buf)

        class I2cMsg:
            @staticmethod
            def write(addr: int, data: list[int]) -> Msg:
                return Msg(addr, data, len(data))

            @staticmethod
            def read(addr: int, length: int) -> Msg:
                return Msg(addr, None, length)

        class SMBus:
            def __init__(self, bus: int) -> None:
                if bus != 0:
                    raise FileNotFoundError(2, "No such file or directory")

            def __enter__(self) -> SMBus:
                return self

            def __exit__(self, *exc: object) -> None:
                return None

            def i2c_rdwr(self, *msgs: Msg) -> None:
                for msg in msgs:
                    assert msg.addr == 0x50
                    if msg.data is not None:
                        chip.pointer = msg.data[0] << 8 | msg.data[1]
                    else:
                        chip.transactions.append((chip.pointer, msg.length))
                        msg.buf = chip.memory[chip.pointer : chip.pointer + msg.length]
                        chip.pointer += msg.length

        mod.SMBus = SMBus  # type: ignore[attr-defined]
        mod.i2c_msg = I2cMsg  # type: ignore[attr-defined]
        return mod


def test_raw_eeprom_read_when_the_device_tree_has_no_hat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = build_eeprom("pi-ata project", "pi-ata ProSLIC PCM HAT", custom=(bytes(600),))
    chip = Fake24C32(image)
    monkeypatch.setitem(sys.modules, "smbus2", chip.module())
    raw = read_eeprom_raw(0)
    assert raw == image
    assert chip.transactions[0] == (0, 12)  # header first, then eeplen bytes in ≤ 256 chunks
    assert all(length <= 256 for _, length in chip.transactions)
    info = detect_hat(tmp_path / "no-hat", i2c_bus=0)
    assert info is not None
    assert (info.product, info.source) == ("pi-ata ProSLIC PCM HAT", "eeprom")
    assert detect_hat(tmp_path / "no-hat", i2c_bus=1) is None  # no such I2C bus


def test_blank_raw_eeprom_is_no_hat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "smbus2", Fake24C32(b"").module())
    assert detect_hat(tmp_path / "no-hat", i2c_bus=0) is None
