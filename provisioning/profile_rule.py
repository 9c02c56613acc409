"""Profile rules: ``[--key SECRET] https://host/path/$MA.cfg``, as on Cisco SPA devices.

A rule is an optional bracketed option list followed by a URL. Options:

- ``--key SECRET`` (or ``--key "SECRET WITH SPACES"``): the profile is an OpenSSL ``enc
  -aes-256-cbc`` file encrypted with this pass phrase; the key derivation (MD5, SHA-256 or
  PBKDF2) is detected (see :mod:`provisioning.crypto`).
- ``--kdf md5|sha256|pbkdf2`` and ``--iter N``: force one key derivation (pi-ata extension).

The URL is ``http://``, ``https://`` or ``file://`` (the last for local testing and
USB-stick provisioning); macros are expanded when the rule is used (:mod:`provisioning.macros`).
A bare ``host/path`` without a scheme means ``http://`` (Cisco behaviour without TFTP).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Final, Literal

from provisioning.macros import expand

Kdf = Literal["md5", "sha256", "pbkdf2"]
KDFS: Final[tuple[Kdf, ...]] = ("md5", "sha256", "pbkdf2")
SCHEMES: Final = ("http://", "https://", "file://")


class ProfileRuleError(ValueError):
    """A malformed profile rule (the message never contains the key)."""


@dataclass(frozen=True)
class ProfileRule:
    url: str
    key: str | None = field(default=None, repr=False)
    kdf: Kdf | None = None
    iterations: int | None = None

    def expanded(self, variables: dict[str, str]) -> ProfileRule:
        key = expand(self.key, variables) if self.key is not None else None
        return ProfileRule(expand(self.url, variables), key, self.kdf, self.iterations)


def parse_profile_rule(text: str) -> ProfileRule:
    text = text.strip()
    if not text:
        raise ProfileRuleError("empty profile rule")
    key: str | None = None
    kdf: Kdf | None = None
    iterations: int | None = None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ProfileRuleError("unclosed '[' in profile rule options")
        try:
            words = shlex.split(text[1:end])
        except ValueError:
            raise ProfileRuleError("unbalanced quotes in profile rule options") from None
        text = text[end + 1 :].strip()
        index = 0
        while index < len(words):
            option = words[index]
            if index + 1 >= len(words):
                raise ProfileRuleError(f"option {option} needs a value")
            value = words[index + 1]
            if option == "--key":
                key = value
            elif option == "--kdf":
                if value not in KDFS:
                    raise ProfileRuleError(f"--kdf must be one of {', '.join(KDFS)}")
                kdf = next(k for k in KDFS if k == value)
            elif option == "--iter":
                if not value.isdigit() or not 1 <= int(value) <= 10_000_000:
                    raise ProfileRuleError("--iter must be 1..10000000")
                iterations = int(value)
            else:
                raise ProfileRuleError(f"unknown profile rule option {option!r}")
            index += 2
    if not text or any(c.isspace() for c in text):
        raise ProfileRuleError("a profile rule needs exactly one URL (no spaces)")
    lower = text.lower()
    if "://" in lower and not lower.startswith(SCHEMES):
        raise ProfileRuleError("URL scheme must be http, https or file")
    if "://" not in lower:
        text = "http://" + text.lstrip("/")
    return ProfileRule(text, key, kdf, iterations)
