"""The configuration form: which fields it shows, and form data <-> config data.

Input names are the config paths themselves (``device.country``, ``lines[0].registration.
expires``), so a :class:`~provisioning.validate.FieldError` lands next to its input by its
``path``. The form covers the common settings; everything else keeps its current value (the
submitted data starts as a copy of the running config). Values are passed to the validator as
typed as the browser allows: a number field holding ``abc`` stays the string ``"abc"`` so the
validator reports "must be an integer, got 'abc'" in place, rather than the form guessing.

A field absent from the submission keeps its value, except a checkbox of a submitted line
(browsers leave unchecked boxes out), and a line none of whose fields were sent is untouched.

Passwords are write-only: the input is always rendered empty, an empty submission keeps the
stored secret, and the ``...password_clear`` checkbox empties it.
"""

from __future__ import annotations

import copy
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

import msgspec.inspect as mi

from provisioning.schema import Config, Country, Device, Line, Registration, to_data

Kind = Literal["bool", "text", "int", "secret", "choice"]


@dataclass(frozen=True)
class FormField:
    key: str  # path inside its section, e.g. "registration.expires"
    label: str
    kind: Kind
    choices: tuple[str, ...] = ()
    help: str = ""


def _description(struct: type, name: str) -> str:
    info = mi.type_info(struct)
    fields = info.fields if isinstance(info, mi.StructType) else ()
    for fld in fields:
        if fld.name == name and isinstance(fld.type, mi.Metadata):
            schema = fld.type.extra_json_schema or {}
            return str(schema.get("description", "")).replace("`", "")
    return ""


DEVICE_FIELDS: Final = (
    FormField("name", "Device name", "text", help=_description(Device, "name")),
    FormField(
        "country",
        "Country",
        "choice",
        choices=typing.get_args(Country),
        help=_description(Device, "country"),
    ),
)

LINE_FIELDS: Final = (
    FormField("enabled", "Enabled", "bool", help=_description(Line, "enabled")),
    FormField("proxy", "Proxy", "text", help=_description(Line, "proxy")),
    FormField("user", "User ID", "text", help=_description(Line, "user")),
    FormField("auth_user", "Auth user", "text", help=_description(Line, "auth_user")),
    FormField("password", "Password", "secret", help="Leave empty to keep the stored password."),
    FormField("display_name", "Display name", "text", help=_description(Line, "display_name")),
    FormField("dial_plan", "Dial plan", "text", help=_description(Line, "dial_plan")),
    FormField(
        "registration.expires",
        "Registration expiry (s)",
        "int",
        help=_description(Registration, "expires"),
    ),
)


def line_path(index: int, key: str) -> str:
    return f"lines[{index}].{key}"


def device_path(key: str) -> str:
    return f"device.{key}"


def clear_name(path: str) -> str:
    """Name of the checkbox that empties a write-only secret."""
    return f"{path}_clear"


def get_value(data: Mapping[str, object], key: str) -> object:
    value: object = data
    for part in key.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _set_value(data: dict[str, object], key: str, value: object) -> None:
    parts = key.split(".")
    target = data
    for part in parts[:-1]:
        child = target.setdefault(part, {})
        if not isinstance(child, dict):
            return
        target = child
    target[parts[-1]] = value


def _convert(fld: FormField, raw: str | None) -> object:
    if fld.kind == "bool":
        return raw is not None
    text = (raw or "").strip()
    if fld.kind == "int":
        try:
            return int(text)
        except ValueError:
            return text  # the validator explains what is wrong, next to the field
    return text


def form_to_data(form: Mapping[str, str], current: Config) -> dict[str, object]:
    """Raw config data: the running config with the submitted fields put over it."""
    data = copy.deepcopy(to_data(current))
    device = data.get("device")
    if isinstance(device, dict):
        for fld in DEVICE_FIELDS:
            name = device_path(fld.key)
            if name in form or fld.kind == "bool":
                _set_value(device, fld.key, _convert(fld, form.get(name)))
    lines = data.get("lines")
    if isinstance(lines, list):
        for index, line in enumerate(lines):
            if not isinstance(line, dict) or not any(
                line_path(index, f.key) in form for f in LINE_FIELDS if f.kind != "bool"
            ):
                continue  # this line was not part of the submission: keep it as it is
            for fld in LINE_FIELDS:
                path = line_path(index, fld.key)
                if path not in form and fld.kind not in ("bool", "secret"):
                    continue  # a field left out keeps its value (an unchecked box is absent)
                if fld.kind == "secret":
                    new = form.get(path, "")
                    if form.get(clear_name(path)) is not None:
                        _set_value(line, fld.key, "")
                    elif new:
                        _set_value(line, fld.key, new)  # secrets are taken verbatim
                    continue
                _set_value(line, fld.key, _convert(fld, form.get(path)))
    return data


def form_values(data: Mapping[str, object]) -> dict[str, object]:
    """What each input shows, by input name (secrets never included)."""
    values: dict[str, object] = {}
    device = data.get("device")
    if isinstance(device, Mapping):
        for fld in DEVICE_FIELDS:
            values[device_path(fld.key)] = get_value(device, fld.key)
    lines = data.get("lines")
    if isinstance(lines, list):
        for index, line in enumerate(lines):
            if isinstance(line, Mapping):
                for fld in LINE_FIELDS:
                    if fld.kind != "secret":
                        values[line_path(index, fld.key)] = get_value(line, fld.key)
    return values


def form_paths(n_lines: int) -> frozenset[str]:
    """Every input name the form has (errors on other paths go to the summary)."""
    paths = {device_path(f.key) for f in DEVICE_FIELDS}
    paths |= {line_path(i, f.key) for i in range(n_lines) for f in LINE_FIELDS}
    return frozenset(paths)
