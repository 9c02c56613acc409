"""The pi-ata configuration schema: the one source of defaults, validation and documentation.

Every setting is a field of a :mod:`msgspec` ``Struct`` below. Its type and ``Meta`` constraints
are what :mod:`provisioning.validate` checks, its default is the device default, and its
``description`` (plus the class docstring) is what ``ata config schema`` and
``docs/configuration.md`` print. Extra checks that a type cannot express (a dial plan, a time of
day) are named in ``Meta(extra={"check": NAME})`` and implemented in ``provisioning.checks``.

Why msgspec and not pydantic: the daemon starts on a Pi Zero 2 W (4x Cortex-A53 at 1 GHz,
512 MB RAM shared with the media path), so start-up time and resident memory count.
``bench/bench_config.py`` measures both in fresh interpreters with an equivalent schema; on the
x86-64 development machine (Python 3.11, msgspec 0.19, pydantic 2.14, three runs, medians of
7 interpreters each) importing the library, defining the schema and the first conversion took
26-33 ms with msgspec vs 106-126 ms with pydantic (x3.5-5), a steady-state conversion of a full
config 3.2 us vs 14-16 us (x4.5-5), and the RSS growth was 4.7 MiB vs 19.9 MiB (+15 MiB).
On the Pi's slower cores the absolute gap grows. msgspec is one small C
extension with no dependencies; pydantic also pulls in pydantic-core and typing-inspection.

Structs are frozen: a loaded config is a value. Change it with ``msgspec.structs.replace`` (or
through :func:`provisioning.validate.config_from_data`) and compare two of them with
:func:`provisioning.diff.diff_configs`.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

import msgspec
from msgspec import Meta, Struct, field

SCHEMA_VERSION: Final = 1
MAX_LINES: Final = 8
DEFAULT_DIAL_PLAN: Final = "(*xx|[3469]11|0|00|[2-9]xxxxxx|1xxx[2-9]xxxxxx|xxxxxxxxxxxx.)"

Codec = Literal["PCMU", "PCMA"]
Country = Literal["us", "ca", "gb", "ie", "de", "at", "ch", "fr", "it", "es", "nl", "be", "se",
                  "no", "dk", "fi", "pl", "au", "nz", "jp"]  # fmt: skip

# Reusable annotated types -------------------------------------------------------------------
Port = Annotated[int, Meta(ge=1, le=65535)]
Seconds = Annotated[int, Meta(ge=0, le=31_536_000)]
Gain = Annotated[float, Meta(ge=-12.0, le=12.0)]
HostPort = Annotated[str, Meta(max_length=255, extra={"check": "host_port"})]
SipUser = Annotated[str, Meta(max_length=128, extra={"check": "sip_user"})]
Secret = Annotated[str, Meta(max_length=256, extra={"secret": True})]
FilePath = Annotated[str, Meta(max_length=4096, extra={"check": "abs_path_or_empty"})]


def _doc(text: str, **constraints: object) -> Meta:
    return Meta(description=text, **constraints)  # type: ignore[arg-type]


class _Section(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base: every section is frozen, keyword-only and refuses unknown keys."""


class Device(_Section, frozen=True):
    """The device itself: name, regional tone set and clock."""

    name: Annotated[
        str,
        _doc(
            "Device name shown in the web admin and in logs.",
            min_length=1,
            max_length=63,
            pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        ),
    ] = "pi-ata"
    country: Annotated[
        Country,
        _doc("Country profile: tone set (dial, busy, ringback...), ring and caller ID defaults."),
    ] = "us"
    timezone: Annotated[
        str,
        _doc(
            "IANA time zone used for `provisioning.resync_at` and caller ID time stamps.",
            max_length=64,
            extra={"check": "timezone"},
        ),
    ] = "UTC"


class Network(_Section, frozen=True):
    """SIP transport shared by all lines."""

    transport: Annotated[Literal["udp", "tcp", "tls"], _doc("SIP transport towards the proxy.")] = (
        "udp"
    )
    local_port: Annotated[int, _doc("Local SIP port (TLS uses it too).", ge=1, le=65535)] = 5060
    rtp_port_min: Annotated[int, _doc("First RTP port (even).", ge=1024, le=65534)] = 16384
    rtp_port_max: Annotated[int, _doc("Last RTP port.", ge=1025, le=65535)] = 16482
    tls_ca_file: Annotated[
        FilePath,
        _doc("PEM file of CAs trusted for SIP over TLS; empty = the system store."),
    ] = ""
    tls_verify_hostname: Annotated[
        bool, _doc("Check that the proxy's certificate names the proxy host.")
    ] = True


ToneScript = Annotated[str, Meta(max_length=256, extra={"check": "tonescript"})]


class Tones(_Section, frozen=True):
    """Call progress tones in Cisco ToneScript (`F@dBm[,F@dBm];secs(on/off/freqs)`); an empty
    value means the tone of the `device.country` tone set."""

    dial: Annotated[ToneScript, _doc("Dial tone, e.g. `350@-19,440@-19;10(*/0/1+2)`.")] = ""
    second_dial: Annotated[ToneScript, _doc("Second dial tone (after a `,` in the plan).")] = ""
    outside_dial: Annotated[ToneScript, _doc("Outside-line dial tone.")] = ""
    stutter: Annotated[ToneScript, _doc("Stutter dial tone (message waiting).")] = ""
    ringback: Annotated[ToneScript, _doc("Ringback (alerting) tone.")] = ""
    busy: Annotated[ToneScript, _doc("Busy tone.")] = ""
    reorder: Annotated[ToneScript, _doc("Reorder (congestion / invalid number) tone.")] = ""
    call_waiting: Annotated[ToneScript, _doc("Call waiting tone.")] = ""
    sit: Annotated[ToneScript, _doc("Special information tone.")] = ""
    off_hook_warning: Annotated[ToneScript, _doc("Off-hook warning (howler) tone.")] = ""
    confirm: Annotated[ToneScript, _doc("Confirmation tone (feature codes).")] = ""


class Ring(_Section, frozen=True):
    """Ring signal generated by the SLIC (per-line cadence is `lines[].ring_cadence`)."""

    frequency_hz: Annotated[int, _doc("Ring frequency, Hz.", ge=15, le=70)] = 20
    voltage_v: Annotated[
        int, _doc("Ring voltage (peak, V); the board may cap it.", ge=40, le=90)
    ] = 70
    waveform: Annotated[Literal["sine", "trapezoid"], _doc("Ring waveform.")] = "sine"


class Registration(_Section, frozen=True):
    """REGISTER timing for one line."""

    expires: Annotated[int, _doc("Requested registration expiry, seconds.", ge=60, le=86400)] = 3600
    retry_s: Annotated[
        int, _doc("Wait after a failed registration before retrying, seconds.", ge=5, le=3600)
    ] = 30


class Gains(_Section, frozen=True):
    """Analog level adjustments for one line (dB, + is louder)."""

    tx_db: Annotated[Gain, _doc("Gain from the phone towards the network, dB.")] = 0.0
    rx_db: Annotated[Gain, _doc("Gain from the network towards the phone, dB.")] = 0.0


class JitterBuffer(_Section, frozen=True):
    """How received audio is buffered before it is played to the phone."""

    mode: Annotated[
        Literal["adaptive", "minimum", "fixed"],
        _doc(
            "adaptive: delay follows the network's jitter (99th percentile + 10 ms); minimum: "
            "the lowest delay the network allows (95th percentile, no guard); fixed: a "
            "constant delay above the fastest packet (fax and modems)."
        ),
    ] = "adaptive"
    fixed_delay_ms: Annotated[
        int, _doc("Delay above the fastest packet in fixed mode, ms.", ge=0, le=500)
    ] = 100
    max_delay_ms: Annotated[int, _doc("Largest delay any mode may reach, ms.", ge=20, le=1000)] = (
        300
    )
    phase_alignment: Annotated[
        bool,
        _doc(
            "Once per call, move the port's 20 ms frame grid so that packets are played just "
            "after they arrive instead of up to 20 ms later (not in fixed mode)."
        ),
    ] = True


class HookFlash(_Section, frozen=True):
    """An on-hook interval between these bounds is a hook flash (shorter: ignored as a bounce;
    longer: a hang-up)."""

    min_ms: Annotated[int, _doc("Shortest on-hook time taken as a flash, ms.", ge=20, le=2000)] = (
        100
    )
    max_ms: Annotated[int, _doc("Longest on-hook time taken as a flash, ms.", ge=50, le=3000)] = 900
    action: Annotated[
        Literal["ignore", "relay", "transfer"],
        _doc(
            "What a flash in a call does: nothing; send it to the far end (RFC 4733 event "
            "16, or SIP INFO); or hold the call and give dial tone to transfer it (hang up "
            "while the target rings: blind; after it answers: attended; flash again: back)."
        ),
    ] = "ignore"


class PulseDialing(_Section, frozen=True):
    """Rotary (pulse) dialing detection."""

    enabled: Annotated[bool, _doc("Accept pulse (rotary) dialing besides DTMF.")] = True
    coding: Annotated[
        Literal["normal", "sweden", "new_zealand"],
        _doc(
            "Pulses to digit: normal (n pulses = n, 10 = 0), sweden (n+1 pulses = n), "
            "new_zealand (10-n pulses = n)."
        ),
    ] = "normal"


class Line(_Section, frozen=True):
    """One FXS port's SIP account and analog settings. `lines[0]` is port 1."""

    enabled: Annotated[bool, _doc("Register and handle calls on this port.")] = True
    proxy: Annotated[
        HostPort,
        _doc(
            "SIP proxy/registrar `host[:port]`; empty = the built-in registrar "
            "(standalone mode, see `registrar`)."
        ),
    ] = ""
    outbound_proxy: Annotated[
        HostPort, _doc("Send all requests to this `host[:port]` instead; empty = none.")
    ] = ""
    user: Annotated[SipUser, _doc("SIP user ID (the user part of the AOR).")] = ""
    auth_user: Annotated[SipUser, _doc("Digest authentication user; empty = `user`.")] = ""
    password: Annotated[Secret, _doc("Digest authentication password (never logged).")] = ""
    display_name: Annotated[
        str, _doc("Display name in From for outgoing calls.", max_length=64)
    ] = ""
    registration: Annotated[Registration, _doc("Registration timing.")] = field(
        default_factory=Registration
    )
    dtmf_mode: Annotated[
        Literal["rfc4733", "inband", "info"],
        _doc("How dialled digits are sent in a call: RTP events, audio, or SIP INFO."),
    ] = "rfc4733"
    codecs: Annotated[
        list[Codec],
        _doc("Codec preference order offered in SDP.", min_length=1, max_length=2,
             extra={"check": "unique"}),
    ] = field(default_factory=lambda: ["PCMU", "PCMA"])  # fmt: skip
    dial_plan: Annotated[
        str,
        _doc(
            "Digit map in Cisco SPA syntax, e.g. `(*xx|[3469]11|xxxxxxxxxx.)`.",
            min_length=1,
            max_length=8192,
            extra={"check": "dial_plan"},
        ),
    ] = DEFAULT_DIAL_PLAN
    caller_id: Annotated[
        Literal["bell202", "v23", "dtmf", "none"],
        _doc("Caller ID method sent to the phone between rings."),
    ] = "bell202"
    ring_cadence: Annotated[
        str,
        _doc(
            "Ring cadence in Cisco ToneScript form `60(2/4)` = 60 s of 2 s on / 4 s off.",
            max_length=128,
            extra={"check": "cadence"},
        ),
    ] = "60(2/4)"
    gains: Annotated[Gains, _doc("Analog gains.")] = field(default_factory=Gains)
    jitter_buffer: Annotated[JitterBuffer, _doc("Receive jitter buffer.")] = field(
        default_factory=JitterBuffer
    )
    hook_flash: Annotated[HookFlash, _doc("Hook-flash timing window.")] = field(
        default_factory=HookFlash
    )
    pulse_dialing: Annotated[PulseDialing, _doc("Rotary dialing.")] = field(
        default_factory=PulseDialing
    )
    mwi_subscribe: Annotated[
        bool,
        _doc(
            "Subscribe to message-summary (RFC 3842) after registering: stutter dial tone "
            "and the phone's message lamp follow the mailbox."
        ),
    ] = False
    mwi_uri: Annotated[
        str,
        _doc(
            "Mailbox to subscribe to, e.g. `sip:*97@pbx.example.com`; empty = the line's "
            "own address.",
            max_length=255,
        ),
    ] = ""
    polarity_reversal: Annotated[
        bool,
        _doc(
            "Reverse the line polarity while a call is answered (payphones, call-accounting boxes)."
        ),
    ] = False
    disconnect_ms: Annotated[
        int,
        _doc(
            "Open the loop this long when the far end hangs up (CPC / K-break); 0 = off.",
            ge=0,
            le=2000,
        ),
    ] = 0


class Security(_Section, frozen=True):
    """Protection against ghost calls, scanners and floods (see facts/sip-limits.md)."""

    restrict_source_to_proxy: Annotated[
        bool,
        _doc(
            "Accept SIP only from the proxy's resolved addresses (ghost-call protection). "
            "Also the only source accepted for a resync NOTIFY."
        ),
    ] = True
    check_request_uri_user: Annotated[
        bool, _doc("Refuse an INVITE whose Request-URI user is not the line's user ID.")
    ] = True
    rate_limit_per_s: Annotated[
        int, _doc("SIP requests accepted per second from one source address.", ge=1, le=10000)
    ] = 20
    rate_limit_burst: Annotated[
        int, _doc("Burst allowance over `rate_limit_per_s`.", ge=1, le=100000)
    ] = 40


class Provisioning(_Section, frozen=True):
    """Where and when to fetch a profile. See docs/provisioning.md."""

    profile_rules: Annotated[
        list[Annotated[str, Meta(max_length=2048, extra={"check": "profile_rule"})]],
        _doc(
            "Ordered profile URLs, tried until one succeeds: `[--key SECRET] https://host/$MA.cfg`"
            " with macros ($MA, $MAU, $MAC, $SN, $PN, $SWVER, $HWVER, $IP, $(NAME:p:q)). "
            "Empty = DHCP option 66/160 when `dhcp_discovery` is on, else no provisioning.",
            max_length=8,
        ),
    ] = []
    dhcp_discovery: Annotated[
        bool, _doc("Without profile rules, use the DHCP option 66/160 server from the lease.")
    ] = True
    resync_on_boot: Annotated[bool, _doc("Fetch the profile at start-up.")] = True
    resync_periodic_s: Annotated[
        Seconds, _doc("Fetch again this long after a successful fetch, seconds; 0 = never.")
    ] = 3600
    resync_random_delay_s: Annotated[
        Seconds, _doc("Add a random 0..this delay to boot and periodic fetches, seconds.")
    ] = 40
    resync_at: Annotated[
        str,
        _doc("Also fetch daily at this local time `HHmm` (e.g. `0230`); empty = off.",
             extra={"check": "hhmm"}),
    ] = ""  # fmt: skip
    resync_at_random_delay_s: Annotated[
        Seconds, _doc("Spread the daily fetch over 0..this many seconds.")
    ] = 600
    error_retry_delays_s: Annotated[
        list[Annotated[int, Meta(ge=1, le=31_536_000)]],
        _doc(
            "After failure n, retry after the n-th delay (the last one repeats), seconds.",
            min_length=1,
            max_length=16,
        ),
    ] = field(default_factory=lambda: [1800, 3600, 7200])
    resync_from_sip: Annotated[
        bool, _doc("Fetch when the proxy sends NOTIFY `Event: check-sync` or `resync`.")
    ] = True
    ca_file: Annotated[
        FilePath, _doc("PEM CA bundle trusted for HTTPS profile servers; empty = system store.")
    ] = ""
    client_cert_file: Annotated[
        FilePath, _doc("PEM client certificate presented to the HTTPS server; empty = none.")
    ] = ""
    client_key_file: Annotated[
        FilePath, _doc("PEM private key of `client_cert_file` (may be the same file).")
    ] = ""
    timeout_s: Annotated[int, _doc("Whole-fetch timeout, seconds.", ge=1, le=600)] = 30


class Admin(_Section, frozen=True):
    """The web admin."""

    listen: Annotated[
        HostPort, _doc("Address and port the web admin listens on; empty = disabled.")
    ] = "127.0.0.1:8081"  # loopback unless configured (set "0.0.0.0:80" to reach it from the LAN)
    password_hash: Annotated[
        str,
        _doc(
            "scrypt hash `scrypt$N$r$p$salt$hash` of the admin password; empty = set on first "
            "use (no default password).",
            max_length=512,
            extra={"secret": True, "check": "password_hash"},
        ),
    ] = ""


class RegistrarUser(_Section, frozen=True):
    """An account of the built-in registrar (standalone mode)."""

    user: Annotated[SipUser, _doc("User name (and extension) that registers.", min_length=1)]
    password: Annotated[Secret, _doc("Digest password of this user.")] = ""
    port: Annotated[
        int, _doc("Port (1-based) rung when this user is called; 0 = none.", ge=0, le=MAX_LINES)
    ] = 0


class Registrar(_Section, frozen=True):
    """The built-in registrar, used by lines with an empty `proxy` (the default)."""

    realm: Annotated[str, _doc("Digest realm.", min_length=1, max_length=64)] = "pi-ata"
    users: Annotated[list[RegistrarUser], _doc("Accounts allowed to register.", max_length=64)] = []


class Config(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """pi-ata configuration (local file `/etc/pi-ata/config.toml`, or a provisioned profile)."""

    schema_version: Annotated[int, _doc("Schema version of this file.", ge=1, le=1)] = (
        SCHEMA_VERSION
    )
    device: Annotated[Device, _doc("The device.")] = field(default_factory=Device)
    network: Annotated[Network, _doc("SIP transport.")] = field(default_factory=Network)
    lines: Annotated[
        list[Line],
        _doc("One entry per FXS port, in port order.", min_length=1, max_length=MAX_LINES),
    ] = field(default_factory=lambda: [Line()])
    tones: Annotated[Tones, _doc("Call progress tones.")] = field(default_factory=Tones)
    ring: Annotated[Ring, _doc("Ring signal.")] = field(default_factory=Ring)
    security: Annotated[Security, _doc("Security policy.")] = field(default_factory=Security)
    provisioning: Annotated[Provisioning, _doc("Profile provisioning.")] = field(
        default_factory=Provisioning
    )
    admin: Annotated[Admin, _doc("Web admin.")] = field(default_factory=Admin)
    registrar: Annotated[Registrar, _doc("Built-in registrar.")] = field(default_factory=Registrar)


SECTIONS: Final = tuple(f for f in Config.__struct_fields__ if f != "schema_version")


def default_config() -> Config:
    """The configuration of a device that has never been configured."""
    return Config()


def to_data(config: Config) -> dict[str, object]:
    """The config as plain dicts/lists/scalars (for TOML/JSON encoding and diffs)."""
    data = msgspec.to_builtins(config)
    if not isinstance(data, dict):  # pragma: no cover - a Struct always encodes to a dict
        raise TypeError("config did not encode to a table")
    return data
