"""Cisco-style macro expansion in profile rules (``$MA``, ``$(MAU:6:6)``, ``$$``).

Semantics (Cisco SPA provisioning guide, "Macro Expansion Variables"):

- ``$NAME`` and ``$(NAME)`` are replaced by the variable's value. ``NAME`` is the longest run of
  upper-case letters, digits and ``_`` after ``$``.
- ``$(NAME:p)`` is the value from character offset ``p`` to the end; ``$(NAME:p:q)`` is ``q``
  characters from offset ``p`` (``p``, ``q`` non-negative integers).
- ``$$`` is a single ``$``. Expansion is not recursive: ``$$MAU`` gives ``$MAU``.
- An unrecognised name is left exactly as written (``spa$STRANGE$MAU.cfg`` ->
  ``spa$STRANGE000E08012345.cfg``).

Variables: ``MA`` (MAC, lower-case hex), ``MAU`` (upper-case), ``MAC`` (lower-case with
colons), ``PN`` product name, ``PSN`` product series, ``SN`` serial number, ``SWVER``, ``HWVER``,
``IP`` (LAN address), ``EXTIP`` (public address when known), ``SCHEME``/``SERV``/``SERVIP`` are
not provided; ``A``..``P`` user variables when given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

_TOKEN: Final = re.compile(
    r"\$(?:(\$)|\(([A-Z][A-Z0-9_]*)(?::(\d+))?(?::(\d+))?\)|([A-Z][A-Z0-9_]*))"
)
_MAC: Final = re.compile(r"^[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class DeviceInfo:
    """What the macros expand to on this device."""

    mac: str  # any of 001122aabbcc, 00:11:22:aa:bb:cc, 00-11-22-AA-BB-CC
    serial: str = ""
    product: str = "PI-ATA"
    product_series: str = "PIATA"
    sw_version: str = ""
    hw_version: str = ""
    ip: str = ""
    ext_ip: str = ""
    user_vars: dict[str, str] = field(default_factory=dict)  # "A".."P"

    def variables(self) -> dict[str, str]:
        mac = self.mac.replace(":", "").replace("-", "").replace(".", "")
        if not _MAC.match(mac):
            raise ValueError(f"not a MAC address: {self.mac!r}")
        lower = mac.lower()
        values = {
            "MA": lower,
            "MAU": lower.upper(),
            "MAC": ":".join(lower[i : i + 2] for i in range(0, 12, 2)),
            "PN": self.product,
            "PSN": self.product_series,
            "SN": self.serial,
            "SWVER": self.sw_version,
            "HWVER": self.hw_version,
            "IP": self.ip,
            "EXTIP": self.ext_ip,
        }
        values.update({k: v for k, v in self.user_vars.items() if len(k) == 1 and "A" <= k <= "P"})
        return values


def expand(text: str, variables: dict[str, str]) -> str:
    """Expand the macros of ``text`` with ``variables`` (see the module docstring)."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(1):
            return "$"
        name = match.group(2) or match.group(5)
        value = variables.get(name)
        if value is None:
            return match.group(0)
        if match.group(2) is None:
            return value
        offset = int(match.group(3)) if match.group(3) is not None else 0
        if match.group(4) is not None:
            return value[offset : offset + int(match.group(4))]
        return value[offset:]

    return _TOKEN.sub(substitute, text)
