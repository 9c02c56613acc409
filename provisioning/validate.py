"""Validation of raw configuration data against the schema, reporting *every* error.

Theory of operation
-------------------
msgspec stops at the first error, and its messages are terse. A config author wants all the
problems at once, each with its path: ``lines[1].registration.expires: must be 60..86400, got
5``. So :func:`validate_data` walks the raw data (dicts/lists/scalars from TOML or JSON) in
step with the schema's type description (:func:`msgspec.inspect.type_info`) and collects an
:class:`FieldError` per problem:

1. structural checks per field: type, range, length, pattern, allowed values, unknown keys
   (with a difflib "did you mean"), and named checks from ``Meta(extra={"check": ...})``;
2. when the structure is sound, the data is converted to a :class:`~provisioning.schema.Config`
   and cross-field rules run (:func:`semantic_errors`), e.g. ``hook_flash.min_ms < max_ms``.

Values of fields marked ``extra={"secret": True}`` are never echoed in a message.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import msgspec
import msgspec.inspect as mi

from provisioning.checks import CHECKS
from provisioning.schema import Config

MAX_ERRORS: Final = 200

#: Full dial plan grammar check, e.g. ``ata.line.dialplan.DialPlan.parse`` (raises ValueError).
DialPlanParser = Callable[[str], object]


@dataclass(frozen=True)
class FieldError:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}" if self.path else self.reason


class ConfigValidationError(ValueError):
    """The data is not a valid config; ``errors`` lists every problem found."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


_CONFIG_TYPE: Final = mi.type_info(Config)


def _show(value: object, secret: bool) -> str:
    if secret:
        return "<redacted>"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _range(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f"must be {lo}..{hi}"
    if lo is not None:
        return f"must be >= {lo}"
    return f"must be <= {hi}"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Walker:
    def __init__(self, dial_plan_parser: Callable[[str], object] | None) -> None:
        self.errors: list[FieldError] = []
        self.dial_plan_parser = dial_plan_parser

    def error(self, path: str, reason: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(FieldError(path, reason))

    def walk(self, value: object, typ: mi.Type, path: str, secret: bool = False) -> bool:
        """Check ``value`` against ``typ``; record errors; return True when it is valid."""
        if isinstance(typ, mi.Metadata):
            extra = typ.extra or {}
            secret = secret or bool(extra.get("secret"))
            if not self.walk(value, typ.type, path, secret):
                return False
            check = extra.get("check")
            if isinstance(check, str):
                reason = CHECKS[check](value)
                if reason is None and check == "dial_plan" and self.dial_plan_parser:
                    try:
                        self.dial_plan_parser(str(value))
                    except ValueError as exc:
                        reason = str(exc).splitlines()[0]
                if reason is not None:
                    self.error(path, reason)
                    return False
            return True
        if isinstance(typ, mi.StructType):
            return self.walk_struct(value, typ, path)
        if isinstance(typ, mi.ListType):
            return self.walk_list(value, typ, path, secret)
        if isinstance(typ, mi.UnionType):
            if value is None and any(isinstance(t, mi.NoneType) for t in typ.types):
                return True
            options = [t for t in typ.types if not isinstance(t, mi.NoneType)]
            return self.walk(value, options[0], path, secret)
        return self.walk_scalar(value, typ, path, secret)

    def walk_struct(self, value: object, typ: mi.StructType, path: str) -> bool:
        if not isinstance(value, dict):
            self.error(path, f"must be a table, got {_show(value, False)}")
            return False
        ok = True
        known = {f.encode_name: f for f in typ.fields}
        for key in value:
            if key not in known:
                hint = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.6)
                suffix = f", did you mean '{hint[0]}'?" if hint else ""
                self.error(_join(path, str(key)), f"unknown key{suffix}")
                ok = False
        for name, fld in known.items():
            if name in value:
                ok = self.walk(value[name], fld.type, _join(path, name)) and ok
            elif fld.required:
                self.error(_join(path, name), "required key missing")
                ok = False
        return ok

    def walk_list(self, value: object, typ: mi.ListType, path: str, secret: bool) -> bool:
        if not isinstance(value, list):
            self.error(path, f"must be a list, got {_show(value, secret)}")
            return False
        ok = True
        if typ.min_length is not None and len(value) < typ.min_length:
            self.error(path, f"must have at least {typ.min_length} entries, got {len(value)}")
            ok = False
        if typ.max_length is not None and len(value) > typ.max_length:
            self.error(path, f"must have at most {typ.max_length} entries, got {len(value)}")
            return False
        for index, item in enumerate(value):
            ok = self.walk(item, typ.item_type, f"{path}[{index}]", secret) and ok
        return ok

    def walk_scalar(self, value: object, typ: mi.Type, path: str, secret: bool) -> bool:
        shown = _show(value, secret)
        if isinstance(typ, mi.BoolType):
            if not isinstance(value, bool):
                self.error(path, f"must be true or false, got {shown}")
                return False
            return True
        if isinstance(typ, mi.IntType):
            if isinstance(value, bool) or not isinstance(value, int):
                self.error(path, f"must be an integer, got {shown}")
                return False
            lo = typ.ge if typ.ge is not None else (typ.gt + 1 if typ.gt is not None else None)
            hi = typ.le if typ.le is not None else (typ.lt - 1 if typ.lt is not None else None)
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                self.error(path, f"{_range(lo, hi)}, got {shown}")
                return False
            return True
        if isinstance(typ, mi.FloatType):
            if isinstance(value, bool) or not isinstance(value, int | float):
                self.error(path, f"must be a number, got {shown}")
                return False
            if not math.isfinite(value):
                self.error(path, f"must be a finite number, got {shown}")
                return False
            if (typ.ge is not None and value < typ.ge) or (typ.le is not None and value > typ.le):
                self.error(path, f"{_range(typ.ge, typ.le)}, got {shown}")
                return False
            return True
        if isinstance(typ, mi.StrType):
            if not isinstance(value, str):
                self.error(path, f"must be a string, got {shown}")
                return False
            if typ.min_length is not None and len(value) < typ.min_length:
                self.error(path, "must not be empty" if typ.min_length == 1 else
                           f"must be at least {typ.min_length} characters")  # fmt: skip
                return False
            if typ.max_length is not None and len(value) > typ.max_length:
                self.error(path, f"must be at most {typ.max_length} characters, got {len(value)}")
                return False
            if typ.pattern is not None and not re.search(typ.pattern, value):
                self.error(path, f"must match {typ.pattern}, got {shown}")
                return False
            return True
        if isinstance(typ, mi.LiteralType):
            if value not in typ.values or type(value) is bool:
                allowed = ", ".join(repr(v) for v in typ.values)
                hint = difflib.get_close_matches(str(value), [str(v) for v in typ.values], n=1)
                suffix = f" (did you mean {hint[0]!r}?)" if hint and isinstance(value, str) else ""
                self.error(path, f"must be one of {allowed}, got {shown}{suffix}")
                return False
            return True
        # Types the schema does not use: fall back on msgspec itself.
        try:
            msgspec.convert(value, Any)
        except msgspec.ValidationError as exc:  # pragma: no cover - defensive
            self.error(path, str(exc))
            return False
        return True  # pragma: no cover


def semantic_errors(config: Config) -> list[FieldError]:
    """Cross-field rules that single-field types cannot express."""
    errors: list[FieldError] = []
    net = config.network
    if net.rtp_port_min >= net.rtp_port_max:
        errors.append(FieldError("network.rtp_port_max", "must be above rtp_port_min"))
    for index, line in enumerate(config.lines):
        base = f"lines[{index}]"
        flash = line.hook_flash
        if flash.min_ms >= flash.max_ms:
            errors.append(
                FieldError(
                    f"{base}.hook_flash.max_ms",
                    f"must be above min_ms ({flash.min_ms}), got {flash.max_ms}",
                )
            )
        if line.enabled and line.proxy and not line.user:
            errors.append(FieldError(f"{base}.user", "required when a proxy is set"))
        if line.outbound_proxy and not line.proxy:
            errors.append(FieldError(f"{base}.outbound_proxy", "needs a proxy"))
    seen: set[str] = set()
    for index, user in enumerate(config.registrar.users):
        if user.user in seen:
            errors.append(FieldError(f"registrar.users[{index}].user", "duplicate user"))
        seen.add(user.user)
        if user.port > len(config.lines):
            errors.append(
                FieldError(
                    f"registrar.users[{index}].port",
                    f"there are only {len(config.lines)} lines, got {user.port}",
                )
            )
    prov = config.provisioning
    if prov.client_key_file and not prov.client_cert_file:
        errors.append(FieldError("provisioning.client_key_file", "needs client_cert_file"))
    return errors


def validate_data(
    data: object, *, dial_plan_parser: Callable[[str], object] | None = None
) -> tuple[Config | None, list[FieldError]]:
    """Check raw data; return (config, []) when valid, else (None, every error found)."""
    walker = _Walker(dial_plan_parser)
    if not walker.walk(data, _CONFIG_TYPE, ""):
        return None, walker.errors or [FieldError("", "invalid configuration")]
    try:
        config = msgspec.convert(data, Config)
    except msgspec.ValidationError as exc:  # pragma: no cover - the walker should catch all
        return None, [FieldError("", str(exc))]
    errors = semantic_errors(config)
    return (None, errors) if errors else (config, [])


def config_from_data(
    data: object, *, dial_plan_parser: Callable[[str], object] | None = None
) -> Config:
    """Validated :class:`Config` from raw data, or :class:`ConfigValidationError`."""
    config, errors = validate_data(data, dial_plan_parser=dial_plan_parser)
    if config is None:
        raise ConfigValidationError(errors)
    return config
