"""Raspberry Pi HAT ID EEPROM: read it (device tree, else raw I2C) and parse the "R-Pi" format.

Theory of operation
-------------------
The Pi firmware reads the HAT's 24Cxx EEPROM (ID_SD/ID_SC, I2C address 0x50, 16-bit
addressing) at boot and publishes the vendor atom under ``/proc/device-tree/hat``
(``vendor``, ``product``, ``product_id``, ``product_ver``, ``uuid``). :func:`detect_hat` reads
that first; when it is absent (older firmware, no overlay) it reads the EEPROM raw through
``smbus2`` (imported lazily) and parses it with :func:`parse_eeprom`.

Image format: a 12-byte header — signature ``R-Pi``, version (1 HAT, 2 HAT+), reserved,
``numatoms`` u16, ``eeplen`` u32 (little endian) — then atoms: type u16, count u16 (the atom's
index), ``dlen`` u32 (data + 2), data, CRC-16 over the atom header and data (poly 0x8005,
bit-reflected, init 0: the CRC-16/ARC variant the reference ``eepmake`` computes). Atom types:
1 vendor info (UUID, product id, product version, vendor and product strings), 2 GPIO map,
3 device-tree overlay, 4 custom data, 5 GPIO bank 1, 6 power supply.

Malformed images raise :class:`hal.errors.EepromError` naming the atom and the reason; the
parser never reads beyond the image or trusts a length without checking it.
"""

from __future__ import annotations

import logging
import struct
import uuid as uuidlib
from dataclasses import dataclass, field
from pathlib import Path

from hal.errors import BackendUnavailableError, EepromError

log = logging.getLogger(__name__)

SIGNATURE = b"R-Pi"
HEADER = struct.Struct("<4sBBHI")
ATOM_HEADER = struct.Struct("<HHI")
VENDOR_FIXED = struct.Struct("<16sHHBB")
ATOM_VENDOR, ATOM_GPIO_MAP, ATOM_DT, ATOM_CUSTOM, ATOM_GPIO_BANK1, ATOM_POWER = 1, 2, 3, 4, 5, 6
MAX_EEPROM = 64 * 1024
EEPROM_I2C_ADDRESS = 0x50
PROC_HAT = Path("/proc/device-tree/hat")


def crc16(data: bytes) -> int:
    """CRC-16 as the HAT EEPROM format uses it (poly 0x8005 reflected = 0xA001, init 0)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


@dataclass(frozen=True)
class HatInfo:
    vendor: str
    product: str
    product_id: int = 0
    product_ver: int = 0
    uuid: str = ""
    source: str = ""  # "device-tree" or "eeprom"
    version: int = 1
    dt_overlay: bytes = b""
    custom: tuple[bytes, ...] = field(default=())


def parse_eeprom(image: bytes) -> HatInfo:
    """Parse a HAT EEPROM image; raises :class:`EepromError` when it is malformed."""
    if len(image) < HEADER.size:
        raise EepromError(f"image truncated: {len(image)} bytes, the header needs {HEADER.size}")
    signature, version, _reserved, numatoms, eeplen = HEADER.unpack_from(image)
    if signature != SIGNATURE:
        raise EepromError(f"bad signature {signature!r} (expected b'R-Pi'): blank or not a HAT")
    if version not in (1, 2):
        raise EepromError(f"unknown format version {version}")
    if eeplen > len(image):
        raise EepromError(f"image truncated: header says {eeplen} bytes, have {len(image)}")
    if eeplen > MAX_EEPROM:
        raise EepromError(f"eeplen {eeplen} exceeds {MAX_EEPROM}")
    offset = HEADER.size
    vendor: HatInfo | None = None
    overlay = b""
    custom: list[bytes] = []
    for index in range(numatoms):
        if offset + ATOM_HEADER.size > eeplen:
            raise EepromError(f"atom {index}: header runs past the end of the image")
        atype, count, dlen = ATOM_HEADER.unpack_from(image, offset)
        if dlen < 2 or offset + ATOM_HEADER.size + dlen > eeplen:
            raise EepromError(f"atom {index} (type {atype}): length {dlen} runs past the image")
        body_end = offset + ATOM_HEADER.size + dlen - 2
        (stored,) = struct.unpack_from("<H", image, body_end)
        computed = crc16(image[offset:body_end])
        if stored != computed:
            raise EepromError(
                f"atom {index} (type {atype}): CRC 0x{stored:04X} != computed 0x{computed:04X}"
            )
        if count != index:
            log.warning("HAT EEPROM atom %d carries count %d", index, count)
        data = image[offset + ATOM_HEADER.size : body_end]
        if atype == ATOM_VENDOR:
            vendor = _parse_vendor(data, index, version)
        elif atype == ATOM_DT:
            overlay = data
        elif atype == ATOM_CUSTOM:
            custom.append(data)
        offset = body_end + 2
    if vendor is None:
        raise EepromError("no vendor info atom (type 1)")
    return HatInfo(
        vendor.vendor,
        vendor.product,
        vendor.product_id,
        vendor.product_ver,
        vendor.uuid,
        "eeprom",
        version,
        overlay,
        tuple(custom),
    )


def _parse_vendor(data: bytes, index: int, version: int) -> HatInfo:
    if len(data) < VENDOR_FIXED.size:
        raise EepromError(f"atom {index}: vendor info is {len(data)} bytes, too short")
    raw_uuid, pid, pver, vslen, pslen = VENDOR_FIXED.unpack_from(data)
    strings = data[VENDOR_FIXED.size :]
    if vslen + pslen > len(strings):
        raise EepromError(f"atom {index}: vendor/product strings run past the atom")
    vendor = strings[:vslen].rstrip(b"\0").decode("utf-8", "replace")
    product = strings[vslen : vslen + pslen].rstrip(b"\0").decode("utf-8", "replace")
    # The UUID is stored as four little-endian u32 words, least significant word first.
    words = struct.unpack("<4I", raw_uuid)
    value = words[0] | words[1] << 32 | words[2] << 64 | words[3] << 96
    return HatInfo(vendor, product, pid, pver, str(uuidlib.UUID(int=value)), version=version)


def build_eeprom(
    vendor: str,
    product: str,
    *,
    product_id: int = 0,
    product_ver: int = 1,
    hat_uuid: str = "00000000-0000-0000-0000-000000000000",
    dt_overlay: bytes = b"",
    custom: tuple[bytes, ...] = (),
    version: int = 1,
) -> bytes:
    """Build an image in the same format (for tests and for programming a board's EEPROM)."""
    value = uuidlib.UUID(hat_uuid).int
    words = [(value >> (32 * i)) & 0xFFFFFFFF for i in range(4)]
    vs, ps = vendor.encode(), product.encode()
    vendor_data = (
        VENDOR_FIXED.pack(struct.pack("<4I", *words), product_id, product_ver, len(vs), len(ps))
        + vs
        + ps
    )
    payloads = [(ATOM_VENDOR, vendor_data), (ATOM_GPIO_MAP, bytes(30))]
    if dt_overlay:
        payloads.append((ATOM_DT, dt_overlay))
    payloads.extend((ATOM_CUSTOM, c) for c in custom)
    atoms = b""
    for count, (atype, data) in enumerate(payloads):
        head = ATOM_HEADER.pack(atype, count, len(data) + 2) + data
        atoms += head + struct.pack("<H", crc16(head))
    eeplen = HEADER.size + len(atoms)
    return HEADER.pack(SIGNATURE, version, 0, len(payloads), eeplen) + atoms


def read_proc_hat(root: Path = PROC_HAT) -> HatInfo | None:
    """The HAT the firmware found, from the device tree; None when there is none."""
    if not (root / "vendor").is_file():
        return None

    def text(name: str) -> str:
        path = root / name
        return path.read_bytes().rstrip(b"\0").decode("utf-8", "replace") if path.is_file() else ""

    def number(name: str) -> int:
        try:
            return int(text(name), 0)
        except ValueError:
            return 0

    return HatInfo(
        text("vendor"),
        text("product"),
        number("product_id"),
        number("product_ver"),
        text("uuid"),
        "device-tree",
    )


def read_eeprom_raw(i2c_bus: int = 0, address: int = EEPROM_I2C_ADDRESS) -> bytes:
    """Read the image over I2C (24Cxx, 16-bit addressing) with smbus2 (imported lazily)."""
    try:
        from smbus2 import SMBus, i2c_msg  # hardware library: imported lazily on purpose
    except ImportError as exc:
        raise BackendUnavailableError("python package 'smbus2' is not installed") from exc

    def read(bus: SMBus, offset: int, length: int) -> bytes:
        out = bytearray()
        while length > 0:
            chunk = min(length, 256)
            write = i2c_msg.write(address, [offset >> 8, offset & 0xFF])
            rd = i2c_msg.read(address, chunk)
            bus.i2c_rdwr(write, rd)
            out.extend(bytes(rd))
            offset += chunk
            length -= chunk
        return bytes(out)

    try:
        with SMBus(i2c_bus) as bus:
            header = read(bus, 0, HEADER.size)
            if header[:4] != SIGNATURE:
                return header
            eeplen = HEADER.unpack(header)[4]
            return header + read(bus, HEADER.size, min(eeplen, MAX_EEPROM) - HEADER.size)
    except OSError as exc:
        raise BackendUnavailableError(
            f"cannot read the HAT EEPROM on i2c-{i2c_bus} at 0x{address:02X}: {exc}"
        ) from exc


def detect_hat(proc_root: Path = PROC_HAT, *, i2c_bus: int | None = 0) -> HatInfo | None:
    """The HAT's identity: device tree first, else the raw EEPROM; None when nothing is there."""
    info = read_proc_hat(proc_root)
    if info is not None or i2c_bus is None:
        return info
    try:
        return parse_eeprom(read_eeprom_raw(i2c_bus))
    except (BackendUnavailableError, EepromError) as exc:
        log.debug("no HAT EEPROM read: %s", exc)
        return None
