"""Config server discovery from the DHCP client's lease: option 160, else option 66.

pi-ata does not run its own DHCP client; it reads what the system's client recorded.
Supported sources (newest lease wins within a file; option 160 is preferred to 66, as on
Polycom/Yealink devices):

- ISC dhclient lease files ``/var/lib/dhcp/dhclient*.leases``, ``/var/lib/dhclient/*.lease*``
  and NetworkManager's dhclient backend ``/var/lib/NetworkManager/dhclient-*.lease``:
  ``option tftp-server-name "..."`` (66) and ``option unknown-160 "..."`` or its hex form
  ``68:74:...`` (160; also ``option-160``/``voip-config-url`` if the admin declared a name);
- dhcpcd: its binary lease files ``/var/lib/dhcpcd/*.lease`` (and ``/var/lib/dhcpcd5/``), which
  hold the server's raw DHCP message, read option by option (66 and 160 exactly), and the text
  printed by ``dhcpcd --dumplease IFACE`` (``tftp_server_name=`` for 66; ``dhcp_option_160`` /
  ``unknown_160`` when a definition exists for 160);
- NetworkManager's internal client and systemd-networkd (``KEY=VALUE`` files under
  ``/var/lib/NetworkManager/internal-*.lease`` and ``/run/systemd/netif/leases/``): only a
  recorded ``OPTION_160=``/``OPTION_66=`` (hex or text) is used; those clients usually do not
  record these options, so with them set ``provisioning.profile_rules`` or use dhclient.

A value with a scheme (``https://prov.example/ata/``) is used as given; a bare host or address
(the TFTP convention) becomes ``http://HOST/``. A value ending in ``/`` gets
:data:`DEFAULT_PROFILE_NAME` appended.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Final

DEFAULT_PROFILE_NAME: Final = "pi-ata-$MA.cfg"
LEASE_GLOBS: Final = (
    "/var/lib/dhcp/dhclient*.leases",
    "/var/lib/dhclient/*.lease*",
    "/var/lib/NetworkManager/dhclient-*.lease",
    "/var/lib/dhcpcd/*.lease",
    "/var/lib/dhcpcd5/*.lease",
    "/var/lib/NetworkManager/internal-*.lease",
    "/run/systemd/netif/leases/*",
)
MAX_LEASE_BYTES: Final = 1 << 20
_DHCP_COOKIE: Final = b"\x63\x82\x53\x63"

_LEASE_BLOCK: Final = re.compile(r"\blease\s*\{(.*?)\}", re.S)
_OPTION_LINE: Final = re.compile(r"^\s*option\s+([A-Za-z0-9_-]+)\s+(.*?);\s*$", re.M)
_NAMES_66: Final = ("tftp-server-name", "option-66", "unknown-66")
_NAMES_160: Final = ("unknown-160", "option-160", "voip-config-url", "provisioning-url")


def _decode_dhclient_value(raw: str) -> str:
    raw = raw.strip()
    if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
        return raw[1:-1].replace('\\"', '"')
    if re.fullmatch(r"[0-9A-Fa-f]{1,2}(?::[0-9A-Fa-f]{1,2})*", raw):
        return bytes(int(b, 16) for b in raw.split(":")).decode("utf-8", "replace").rstrip("\x00")
    return raw


def parse_dhclient_leases(text: str) -> dict[int, str]:
    """Options 66/160 of the *last* lease in an ISC dhclient lease file."""
    blocks = _LEASE_BLOCK.findall(text)
    if not blocks:
        return {}
    found: dict[int, str] = {}
    for name, value in _OPTION_LINE.findall(blocks[-1]):
        if name in _NAMES_66:
            found[66] = _decode_dhclient_value(value)
        elif name in _NAMES_160:
            found[160] = _decode_dhclient_value(value)
    return found


def parse_dhcp_message(data: bytes) -> dict[int, str]:
    """Options 66/160 of a raw DHCP (BOOTP) message, as dhcpcd stores it in ``*.lease``."""
    if len(data) < 240 or data[236:240] != _DHCP_COOKIE:
        return {}
    found: dict[int, bytes] = {}
    index = 240
    while index < len(data):
        code = data[index]
        if code == 255:
            break
        if code == 0:
            index += 1
            continue
        if index + 1 >= len(data):
            break
        length = data[index + 1]
        value = data[index + 2 : index + 2 + length]
        if len(value) != length:
            break
        found[code] = found.get(code, b"") + value  # RFC 3396: long options are concatenated
        index += 2 + length
    return {
        code: found[code].decode("utf-8", "replace").rstrip("\x00")
        for code in (66, 160)
        if code in found
    }


def parse_key_value_lease(text: str) -> dict[int, str]:
    """``dhcpcd --dumplease`` output or NetworkManager/systemd ``KEY=VALUE`` lease files."""
    found: dict[int, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or key.startswith("#"):
            continue
        value = value.strip().strip("'\"")
        key_l = key.lower().removeprefix("new_")
        if key_l in ("tftp_server_name", "option_66", "dhcp_option_66"):
            code = 66
        elif key_l in ("option_160", "dhcp_option_160", "unknown_160"):
            code = 160
        else:
            continue
        if len(value) >= 8 and re.fullmatch(r"(?:[0-9A-Fa-f]{2})+", value):
            value = bytes.fromhex(value).decode("utf-8", "replace").rstrip("\x00")
        found[code] = value
    return found


def parse_lease(data: bytes) -> dict[int, str]:
    """Options 66/160 from any supported lease format (detected from the content)."""
    if len(data) >= 240 and data[236:240] == _DHCP_COOKIE:
        return parse_dhcp_message(data)
    text = data.decode("utf-8", "replace")
    if _LEASE_BLOCK.search(text):
        return parse_dhclient_leases(text)
    return parse_key_value_lease(text)


def option_to_url(value: str) -> str | None:
    """A profile URL from an option 66/160 value (see the module docstring)."""
    value = value.strip()
    if not value or any(c.isspace() for c in value):
        return None
    if "://" not in value:
        if value.lower().startswith("tftp:"):
            return None
        value = "http://" + value
    scheme = value.split("://", 1)[0].lower()
    if scheme not in ("http", "https"):
        return None
    if value.count("/") == 2:
        value += "/"
    if value.endswith("/"):
        value += DEFAULT_PROFILE_NAME
    return value


def discover_url(paths: Iterable[str | Path] | None = None) -> str | None:
    """The profile URL from the newest readable lease offering option 160 or 66, else None."""
    if paths is None:
        candidates = [Path(p) for pattern in LEASE_GLOBS for p in glob.glob(pattern)]
    else:
        candidates = [Path(p) for p in paths]
    dated: list[tuple[float, Path]] = []
    for path in candidates:
        try:
            dated.append((path.stat().st_mtime, path))
        except OSError:
            continue
    for _, path in sorted(dated, key=lambda item: item[0], reverse=True):
        try:
            with path.open("rb") as handle:
                data = handle.read(MAX_LEASE_BYTES)
        except OSError:
            continue
        options = parse_lease(data)
        for code in (160, 66):
            url = option_to_url(options.get(code, ""))
            if url:
                return url
    return None
