"""What this device is, for profile-rule macros: MAC, serial, IP, versions (Linux sources)."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from pathlib import Path

from provisioning.macros import DeviceInfo

SYS_NET = Path("/sys/class/net")


def primary_mac(sys_net: Path = SYS_NET) -> str:
    """MAC of the first physical interface (eth* before wlan*), else all zeros."""
    names = sorted(
        (p.name for p in sys_net.iterdir() if p.name != "lo"),
        key=lambda n: (not n.startswith(("eth", "en")), not n.startswith(("wlan", "wl")), n),
    ) if sys_net.is_dir() else []  # fmt: skip
    for name in names:
        with contextlib.suppress(OSError):
            mac = (sys_net / name / "address").read_text().strip()
            if mac and mac != "00:00:00:00:00:00":
                return mac
    return "00:00:00:00:00:00"


def cpu_serial(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The Raspberry Pi's serial number (``Serial`` in /proc/cpuinfo), else empty."""
    with contextlib.suppress(OSError):
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "Serial":
                return value.strip().lstrip("0") or value.strip()
    return ""


def board_model(model: Path = Path("/proc/device-tree/model")) -> str:
    with contextlib.suppress(OSError):
        return model.read_text().rstrip("\x00").strip()
    return ""


def local_ip() -> str:
    """The source address the kernel would use towards the Internet (no packet is sent)."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("192.0.2.1", 9))  # TEST-NET-1: routing lookup only
        address = str(sock.getsockname()[0])
        if not ipaddress.ip_address(address).is_unspecified:
            return address
    return ""


def device_info(sw_version: str) -> DeviceInfo:
    return DeviceInfo(
        mac=primary_mac(),
        serial=cpu_serial(),
        sw_version=sw_version,
        hw_version=board_model(),
        ip=local_ip(),
    )
