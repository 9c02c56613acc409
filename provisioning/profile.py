"""From downloaded bytes to a new validated config: decrypt, inflate, parse, merge, validate.

Formats (detected from the content, not the file name): pi-ata native TOML or JSON, and Cisco
SPA ``<flat-profile>`` XML. A profile is a *partial* config laid over the current one:

- native: tables merge key by key; ``lines`` merge entry by entry (``lines[1]`` of the profile
  updates port 2 and leaves port 1 alone; extra entries add lines); any other list replaces;
- SPA XML: each known parameter sets its pi-ata field (see :mod:`provisioning.spa_xml`).

The result is validated as a whole. Any failure raises :class:`ProvisioningError` naming the
stage (``download``, ``decrypt``, ``parse``, ``validate``) and a reason that is safe to log;
nothing is applied in that case.
"""

from __future__ import annotations

import copy
import json
import tomllib
from dataclasses import dataclass, field
from typing import Literal

from provisioning.crypto import ProfileDecodeError, decode_profile_bytes
from provisioning.profile_rule import ProfileRule
from provisioning.schema import Config, to_data
from provisioning.spa_xml import FlatProfileError, apply_flat_profile, parse_flat_profile
from provisioning.validate import DialPlanParser, validate_data

Stage = Literal["discover", "download", "decrypt", "parse", "validate", "store"]
Format = Literal["toml", "json", "spa-xml"]


class ProvisioningError(Exception):
    """A profile was not applied; ``stage`` and ``reason`` say why (safe to log/show)."""

    def __init__(self, stage: Stage, reason: str) -> None:
        self.stage = stage
        self.reason = reason
        super().__init__(f"{stage}: {reason}")


@dataclass(frozen=True)
class ParsedProfile:
    config: Config
    format: Format
    ignored: list[str] = field(default_factory=list)


def detect_format(text: str) -> Format:
    head = text.lstrip("\ufeff \t\r\n")
    if head.startswith("<"):
        return "spa-xml"
    if head.startswith("{"):
        return "json"
    return "toml"


def merge_native(current: dict[str, object], overlay: dict[str, object]) -> dict[str, object]:
    """Deep-merge ``overlay`` over ``current`` (copies; see the module docstring)."""
    result = copy.deepcopy(current)
    for key, value in overlay.items():
        old = result.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            result[key] = merge_native(old, value)
        elif key == "lines" and isinstance(value, list) and isinstance(old, list):
            merged: list[object] = []
            for index in range(max(len(old), len(value))):
                mine = old[index] if index < len(old) else None
                theirs = value[index] if index < len(value) else None
                if isinstance(mine, dict) and isinstance(theirs, dict):
                    merged.append(merge_native(mine, theirs))
                else:
                    merged.append(copy.deepcopy(theirs if theirs is not None else mine))
            result[key] = merged
        else:
            result[key] = copy.deepcopy(value)
    return result


def parse_profile(
    current: Config,
    body: bytes,
    rule: ProfileRule,
    *,
    dial_plan_parser: DialPlanParser | None = None,
) -> ParsedProfile:
    """Decrypt/inflate/parse ``body`` and lay it over ``current``; validated result."""
    try:
        plain = decode_profile_bytes(body, key=rule.key, kdf=rule.kdf, iterations=rule.iterations)
    except ProfileDecodeError as exc:
        raise ProvisioningError("decrypt", str(exc)) from None
    try:
        text = plain.decode("utf-8")
    except UnicodeDecodeError:
        raise ProvisioningError("parse", "profile is not UTF-8 text") from None
    fmt = detect_format(text)
    base = to_data(current)
    ignored: list[str] = []
    if fmt == "spa-xml":
        try:
            params = parse_flat_profile(plain)
        except FlatProfileError as exc:
            raise ProvisioningError("parse", str(exc)) from None
        data, ignored = apply_flat_profile(base, params)
    else:
        try:
            overlay = json.loads(text) if fmt == "json" else tomllib.loads(text)
        except (ValueError, tomllib.TOMLDecodeError) as exc:
            # Syntax errors quote at most a position, never the offending text.
            kind = "JSON" if fmt == "json" else "TOML"
            where = str(exc).split("(", 1)[-1].rstrip(")") if "(" in str(exc) else ""
            raise ProvisioningError("parse", f"{kind} syntax error {where}".strip()) from None
        if not isinstance(overlay, dict):
            raise ProvisioningError("parse", "profile must be a table/object at the top level")
        data = merge_native(base, overlay)
    config, errors = validate_data(data, dial_plan_parser=dial_plan_parser)
    if config is None:
        shown = "; ".join(str(e) for e in errors[:20])
        more = f" (+{len(errors) - 20} more)" if len(errors) > 20 else ""
        raise ProvisioningError("validate", shown + more)
    return ParsedProfile(config, fmt, ignored)
