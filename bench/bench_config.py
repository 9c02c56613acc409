"""Config schema cost on start-up: msgspec (what pi-ata uses) vs pydantic v2 (the alternative).

For each library, a fresh interpreter (repeated, median reported) measures:
  import_ms   importing the library and defining the schema classes
  first_ms    converting one full config (dict from TOML) into typed objects, first call
  decode_us   per conversion afterwards (steady state, 2000 conversions)
  rss_kib     resident memory growth from interpreter start to after the conversions
The pi-ata row adds the full-report validator (`validate_data`: walk + convert + cross-field).
pydantic is not a pi-ata dependency: install it into the venv only to run this comparison
(`pip install pydantic`); without it the pydantic rows are skipped.

Run: python bench/bench_config.py
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPEATS = 7

SAMPLE = {
    "device": {"name": "bench-ata", "country": "de", "timezone": "Europe/Berlin"},
    "network": {"transport": "tls", "local_port": 5061},
    "lines": [
        {
            "proxy": "sip.example.com",
            "user": f"49301234{i}",
            "password": "secret",
            "display_name": f"Port {i}",
            "registration": {"expires": 600},
            "codecs": ["PCMA", "PCMU"],
            "gains": {"tx_db": -2.0, "rx_db": 1.5},
            "hook_flash": {"min_ms": 80, "max_ms": 700},
        }
        for i in range(2)
    ],
    "provisioning": {"profile_rules": ["https://prov.example.com/$MA.cfg"], "resync_at": "0230"},
    "registrar": {"users": [{"user": "100", "password": "x", "port": 1}]},
}

RSS = """
def rss_kib():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1])
"""

MSGSPEC = (
    RSS
    + """
import json, sys, time
data = json.loads(sys.argv[1])
r0 = rss_kib(); t0 = time.perf_counter()
import msgspec
from provisioning.schema import Config
t1 = time.perf_counter()
msgspec.convert(data, Config)
t2 = time.perf_counter()
for _ in range(2000):
    msgspec.convert(data, Config)
t3 = time.perf_counter()
print(json.dumps([(t1-t0)*1e3, (t2-t1)*1e3, (t3-t2)/2000*1e6, rss_kib()-r0]))
"""
)

PIATA = (
    RSS
    + """
import json, sys, time
data = json.loads(sys.argv[1])
r0 = rss_kib(); t0 = time.perf_counter()
from provisioning.validate import validate_data
t1 = time.perf_counter()
validate_data(data)
t2 = time.perf_counter()
for _ in range(2000):
    validate_data(data)
t3 = time.perf_counter()
print(json.dumps([(t1-t0)*1e3, (t2-t1)*1e3, (t3-t2)/2000*1e6, rss_kib()-r0]))
"""
)

PYDANTIC = (
    RSS
    + """
import json, sys, time
data = json.loads(sys.argv[1])
r0 = rss_kib(); t0 = time.perf_counter()
from typing import Literal
from pydantic import BaseModel, ConfigDict, Field

class S(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

class Device(S):
    name: str = Field(
        "pi-ata", min_length=1, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
    )
    country: Literal["us", "de", "gb", "fr"] = "us"
    timezone: str = Field("UTC", max_length=64)

class Network(S):
    transport: Literal["udp", "tcp", "tls"] = "udp"
    local_port: int = Field(5060, ge=1, le=65535)
    rtp_port_min: int = Field(16384, ge=1024, le=65534)
    rtp_port_max: int = Field(16482, ge=1025, le=65535)
    tls_ca_file: str = ""
    tls_verify_hostname: bool = True

class Registration(S):
    expires: int = Field(3600, ge=60, le=86400)
    retry_s: int = Field(30, ge=5, le=3600)

class Gains(S):
    tx_db: float = Field(0.0, ge=-12, le=12)
    rx_db: float = Field(0.0, ge=-12, le=12)

class HookFlash(S):
    min_ms: int = Field(100, ge=20, le=2000)
    max_ms: int = Field(900, ge=50, le=3000)

class Pulse(S):
    enabled: bool = True
    coding: Literal["normal", "sweden", "new_zealand"] = "normal"

class Line(S):
    enabled: bool = True
    proxy: str = Field("", max_length=255)
    outbound_proxy: str = Field("", max_length=255)
    user: str = Field("", max_length=128)
    auth_user: str = Field("", max_length=128)
    password: str = Field("", max_length=256)
    display_name: str = Field("", max_length=64)
    registration: Registration = Registration()
    dtmf_mode: Literal["rfc4733", "inband", "info"] = "rfc4733"
    codecs: list[Literal["PCMU", "PCMA"]] = Field(default_factory=lambda: ["PCMU", "PCMA"])
    dial_plan: str = Field("(xx.)", min_length=1, max_length=8192)
    caller_id: Literal["bell202", "v23", "dtmf", "none"] = "bell202"
    ring_cadence: str = "60(2/4)"
    gains: Gains = Gains()
    hook_flash: HookFlash = HookFlash()
    pulse_dialing: Pulse = Pulse()

class Security(S):
    restrict_source_to_proxy: bool = True
    check_request_uri_user: bool = True
    rate_limit_per_s: int = Field(20, ge=1, le=10000)
    rate_limit_burst: int = Field(40, ge=1, le=100000)

class Provisioning(S):
    profile_rules: list[str] = Field(default_factory=list, max_length=8)
    dhcp_discovery: bool = True
    resync_on_boot: bool = True
    resync_periodic_s: int = Field(3600, ge=0)
    resync_random_delay_s: int = Field(40, ge=0)
    resync_at: str = ""
    resync_at_random_delay_s: int = Field(600, ge=0)
    error_retry_delays_s: list[int] = Field(default_factory=lambda: [1800, 3600, 7200])
    resync_from_sip: bool = True
    ca_file: str = ""
    client_cert_file: str = ""
    client_key_file: str = ""
    timeout_s: int = Field(30, ge=1, le=600)

class Admin(S):
    listen: str = "0.0.0.0:80"
    password_hash: str = ""

class RegistrarUser(S):
    user: str = Field(min_length=1, max_length=128)
    password: str = ""
    port: int = Field(0, ge=0, le=8)

class Registrar(S):
    realm: str = "pi-ata"
    users: list[RegistrarUser] = Field(default_factory=list)

class Config(S):
    schema_version: int = 1
    device: Device = Device()
    network: Network = Network()
    lines: list[Line] = Field(default_factory=lambda: [Line()], min_length=1, max_length=8)
    security: Security = Security()
    provisioning: Provisioning = Provisioning()
    admin: Admin = Admin()
    registrar: Registrar = Registrar()

t1 = time.perf_counter()
Config.model_validate(data)
t2 = time.perf_counter()
for _ in range(2000):
    Config.model_validate(data)
t3 = time.perf_counter()
print(json.dumps([(t1-t0)*1e3, (t2-t1)*1e3, (t3-t2)/2000*1e6, rss_kib()-r0]))
"""
)


def measure(code: str) -> list[float] | None:
    runs = []
    for _ in range(REPEATS):
        result = subprocess.run(
            [sys.executable, "-c", code, json.dumps(SAMPLE)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
        if result.returncode != 0:
            if "No module named 'pydantic'" in result.stderr:
                return None
            raise RuntimeError(result.stderr)
        runs.append(json.loads(result.stdout))
    return [statistics.median(column) for column in zip(*runs, strict=True)]


def main() -> None:
    rows = {
        "msgspec (convert)": measure(MSGSPEC),
        "pi-ata validate_data": measure(PIATA),
        "pydantic v2 (model_validate)": measure(PYDANTIC),
    }
    print(f"Python {sys.version.split()[0]}, median of {REPEATS} fresh interpreters")
    print(f"{'library':30} {'import_ms':>10} {'first_ms':>9} {'decode_us':>10} {'rss_kib':>8}")
    for name, values in rows.items():
        if values is None:
            print(f"{name:30} (not installed: pip install pydantic to compare)")
            continue
        imp, first, dec, rss = values
        print(f"{name:30} {imp:10.2f} {first:9.3f} {dec:10.2f} {rss:8.0f}")
    ref, mine = rows["pydantic v2 (model_validate)"], rows["msgspec (convert)"]
    if ref and mine:
        print(
            f"ratios pydantic/msgspec: import x{ref[0] / mine[0]:.1f}, first decode "
            f"x{ref[1] / mine[1]:.1f}, steady decode x{ref[2] / mine[2]:.1f}, "
            f"RSS +{ref[3] - mine[3]:.0f} KiB"
        )


if __name__ == "__main__":
    main()
