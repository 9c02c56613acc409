"""Cisco SPA ``<flat-profile>`` XML profiles: safe parsing and mapping onto the pi-ata schema.

A flat profile is one element per parameter, per-line parameters suffixed with the line number:
``<flat-profile><Proxy_1_ ua="na">sip.example.com</Proxy_1_>...</flat-profile>``. The ``ua``
attribute (user access) is ignored. The root may also be ``<device><flat-profile>``.

Safety: parsing uses expat directly and refuses any document type declaration, so entity
expansion ("billion laughs", "quadratic blowup") and external entities (XXE) cannot happen; the
document size, element count and depth are capped.

:data:`LINE_PARAMS` and :data:`GLOBAL_PARAMS` are the mapping (documented in
docs/provisioning.md); :func:`apply_flat_profile` applies the given parameters to raw config
data and returns the names it ignored (unknown or unsupported ones, as SPA devices ignore them).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Final
from xml.parsers import expat

MAX_XML_BYTES: Final = 1 << 20
MAX_ELEMENTS: Final = 5000
MAX_DEPTH: Final = 8
_LINE_PARAM: Final = re.compile(r"^(?P<name>[A-Za-z][A-Za-z0-9_]*?)_(?P<n>[1-8])_$")


class FlatProfileError(ValueError):
    """Malformed or unsafe XML (the message never contains parameter values)."""


def parse_flat_profile(data: bytes) -> dict[str, str]:
    """Parameters of a ``<flat-profile>`` document, name -> text (stripped)."""
    if len(data) > MAX_XML_BYTES:
        raise FlatProfileError(f"XML profile larger than {MAX_XML_BYTES} bytes")
    params: dict[str, str] = {}
    stack: list[str] = []
    text: list[str] = []
    count = 0
    in_profile = 0

    def refuse_dtd(*_args: object) -> None:
        raise FlatProfileError("XML with a DOCTYPE/DTD or entity declarations is refused")

    def start(name: str, _attrs: dict[str, str]) -> None:
        nonlocal count, in_profile
        count += 1
        if count > MAX_ELEMENTS or len(stack) >= MAX_DEPTH:
            raise FlatProfileError("XML profile has too many or too deeply nested elements")
        if not stack and name not in ("flat-profile", "device"):
            raise FlatProfileError(f"root element must be <flat-profile>, got <{name}>")
        if name == "flat-profile":
            in_profile = len(stack) + 1
        stack.append(name)
        text.clear()

    def end(name: str) -> None:
        nonlocal in_profile
        stack.pop()
        if in_profile and len(stack) == in_profile:
            params[name] = "".join(text).strip()
        if name == "flat-profile":
            in_profile = 0
        text.clear()

    def chars(data: str) -> None:
        text.append(data)

    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    for handler in (
        "StartDoctypeDeclHandler",
        "EntityDeclHandler",
        "UnparsedEntityDeclHandler",
        "ExternalEntityRefHandler",
    ):
        setattr(parser, handler, refuse_dtd)
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise FlatProfileError(f"malformed XML: {expat.errors.messages.get(exc.code, exc)} "
                               f"at line {exc.lineno}") from None  # fmt: skip
    return params


# Value converters: the result goes into the raw data; validation reports bad values.
def _bool(text: str) -> object:
    low = text.strip().lower()
    if low in ("yes", "true", "1", "on"):
        return True
    if low in ("no", "false", "0", "off"):
        return False
    return text


def _int(text: str) -> object:
    return int(text) if re.fullmatch(r"[+-]?\d+", text.strip()) else text


def _seconds_ms(text: str) -> object:
    try:
        return round(float(text) * 1000)
    except ValueError:
        return text


def _random_delay(text: str) -> object:
    value = _int(text)  # SPA Resync_Random_Delay counts units of 20 s
    return value * 20 if isinstance(value, int) else value


def _retry_delays(text: str) -> object:
    delays: list[object] = []
    for part in text.split(","):
        part = part.strip()
        if part:
            delays.append(_int(part.split("+", 1)[0]))  # "14400+3600": the increment is dropped
    return delays


def _dtmf(text: str) -> object:
    return {"inband": "inband", "avt": "rfc4733", "info": "info", "auto": "rfc4733"}.get(
        text.strip().lower(), text
    )


def _codec(text: str) -> object:
    return {"g711u": "PCMU", "g711a": "PCMA"}.get(text.strip().lower(), text)


def _caller_id(text: str) -> object:
    low = text.strip().lower()
    if low.startswith("bellcore"):
        return "bell202"
    if low.startswith("etsi fsk"):
        return "v23"
    if low.startswith(("dtmf", "etsi dtmf")):
        return "dtmf"
    if low in ("none", "off", "no"):
        return "none"
    return text


def _transport(text: str) -> object:
    return text.strip().lower()


def _waveform(text: str) -> object:
    return {"sinusoid": "sine", "trapezoid": "trapezoid"}.get(text.strip().lower(), text)


def _same(text: str) -> object:
    return text


def _gain(text: str) -> object:
    try:
        return float(text)
    except ValueError:
        return text


Setter = tuple[tuple[str, ...], Callable[[str], object]]

#: SPA name (without the ``_n_`` suffix) -> path inside ``lines[n-1]`` and converter.
LINE_PARAMS: Final[dict[str, Setter]] = {
    "Line_Enable": (("enabled",), _bool),
    "Proxy": (("proxy",), _same),
    "Outbound_Proxy": (("outbound_proxy",), _same),
    "User_ID": (("user",), _same),
    "Auth_ID": (("auth_user",), _same),
    "Password": (("password",), _same),
    "Display_Name": (("display_name",), _same),
    "Dial_Plan": (("dial_plan",), _same),
    "Register_Expires": (("registration", "expires"), _int),
    "DTMF_Tx_Method": (("dtmf_mode",), _dtmf),
    "Caller_ID_Method": (("caller_id",), _caller_id),
    "FXS_Port_Input_Gain": (("gains", "tx_db"), _gain),
    "FXS_Port_Output_Gain": (("gains", "rx_db"), _gain),
}

#: SPA names that apply to every line (regional settings) -> path inside each line.
ALL_LINES_PARAMS: Final[dict[str, Setter]] = {
    "Ring1_Cadence": (("ring_cadence",), _same),
    "Hook_Flash_Timer_Min": (("hook_flash", "min_ms"), _seconds_ms),
    "Hook_Flash_Timer_Max": (("hook_flash", "max_ms"), _seconds_ms),
    "Caller_ID_Method": (("caller_id",), _caller_id),
    "FXS_Port_Input_Gain": (("gains", "tx_db"), _gain),
    "FXS_Port_Output_Gain": (("gains", "rx_db"), _gain),
}

#: SPA name -> top-level path and converter.
GLOBAL_PARAMS: Final[dict[str, Setter]] = {
    "Resync_On_Reset": (("provisioning", "resync_on_boot"), _bool),
    "Resync_Periodic": (("provisioning", "resync_periodic_s"), _int),
    "Resync_Random_Delay": (("provisioning", "resync_random_delay_s"), _random_delay),
    "Resync_At": (("provisioning", "resync_at"), _same),
    "Resync_At_Random_Delay": (("provisioning", "resync_at_random_delay_s"), _int),
    "Resync_Error_Retry_Delay": (("provisioning", "error_retry_delays_s"), _retry_delays),
    "Resync_From_SIP": (("provisioning", "resync_from_sip"), _bool),
    "Dial_Tone": (("tones", "dial"), _same),
    "Second_Dial_Tone": (("tones", "second_dial"), _same),
    "Outside_Dial_Tone": (("tones", "outside_dial"), _same),
    "MWI_Dial_Tone": (("tones", "stutter"), _same),
    "Ring_Back_Tone": (("tones", "ringback"), _same),
    "Busy_Tone": (("tones", "busy"), _same),
    "Reorder_Tone": (("tones", "reorder"), _same),
    "Call_Waiting_Tone": (("tones", "call_waiting"), _same),
    "SIT1_Tone": (("tones", "sit"), _same),
    "Off_Hook_Warning_Tone": (("tones", "off_hook_warning"), _same),
    "Confirm_Tone": (("tones", "confirm"), _same),
    "Ring_Frequency": (("ring", "frequency_hz"), _int),
    "Ring_Voltage": (("ring", "voltage_v"), _int),
    "Ring_Waveform": (("ring", "waveform"), _waveform),
}

#: Per-line SPA parameters that set a device-wide pi-ata setting (last line given wins).
LINE_TO_GLOBAL: Final[dict[str, Setter]] = {
    "SIP_Transport": (("network", "transport"), _transport),
    "SIP_Port": (("network", "local_port"), _int),
    "Preferred_Codec": (("__codec__",), _codec),
    "Restrict_Source_IP": (("security", "restrict_source_to_proxy"), _bool),
}

PROFILE_RULE_NAMES: Final = ("Profile_Rule", "Profile_Rule_B", "Profile_Rule_C", "Profile_Rule_D")


def _set(target: dict[str, object], path: tuple[str, ...], value: object) -> None:
    node = target
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[path[-1]] = value


def _line(data: dict[str, object], index: int) -> dict[str, object]:
    lines = data.get("lines")
    if not isinstance(lines, list):
        lines = []
        data["lines"] = lines
    while len(lines) <= index:
        lines.append({})
    line = lines[index]
    if not isinstance(line, dict):
        line = {}
        lines[index] = line
    return line


def apply_flat_profile(
    current: dict[str, object], params: dict[str, str]
) -> tuple[dict[str, object], list[str]]:
    """Apply SPA parameters to raw config data (a copy); return (new data, ignored names)."""
    data = copy.deepcopy(current)
    ignored: list[str] = []
    rules: dict[str, str] = {}
    for name, text in params.items():
        if name in PROFILE_RULE_NAMES:
            if text.split("]")[-1].strip().startswith("/"):
                ignored.append(name)  # relative to a TFTP server: not supported
            else:
                rules[name] = text
            continue
        if name in ALL_LINES_PARAMS:
            path, convert = ALL_LINES_PARAMS[name]
            lines = data.get("lines")
            for index in range(len(lines) if isinstance(lines, list) else 1):
                _set(_line(data, index), path, convert(text))
            continue
        if name in GLOBAL_PARAMS:
            path, convert = GLOBAL_PARAMS[name]
            _set(data, path, convert(text))
            continue
        match = _LINE_PARAM.match(name)
        if match:
            base, index = match.group("name"), int(match.group("n")) - 1
            if base in LINE_PARAMS:
                path, convert = LINE_PARAMS[base]
                _set(_line(data, index), path, convert(text))
                continue
            if base in LINE_TO_GLOBAL:
                path, convert = LINE_TO_GLOBAL[base]
                if path == ("__codec__",):
                    first = convert(text)
                    others = [c for c in ("PCMU", "PCMA") if c != first]
                    _set(_line(data, index), ("codecs",), [first, *others])
                else:
                    _set(data, path, convert(text))
                continue
        ignored.append(name)
    if rules:
        ordered = [rules[n] for n in PROFILE_RULE_NAMES if rules.get(n)]
        _set(data, ("provisioning", "profile_rules"), ordered)
    return data, sorted(ignored)
