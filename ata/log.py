"""Logging for pi-ata: one configuration, human-readable or JSON lines, secrets redacted.

Every handler installed by :func:`configure` carries a :class:`RedactingFilter`, which rewrites
the final message text so that passwords, digest ``response=``/``nonce`` values, profile keys and
``Authorization`` headers never reach a log, whichever module logged them and however.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections import deque
from typing import Final, TextIO

REDACTED: Final = "<redacted>"

# (pattern, replacement) pairs applied to the fully formatted message.
_RULES: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    # Digest credentials inside Authorization / Proxy-Authorization headers: keep the header
    # name and username (useful for debugging), drop response, cnonce and the whole value tail.
    (
        re.compile(r"(?im)^((?:proxy-)?authorization\s*:\s*)(.*)$"),
        r"\1" + REDACTED,
    ),
    (re.compile(r'(?i)\b(response|cnonce|ha1|ha1b)\s*=\s*"?[^",\s]*"?'), r"\1=" + REDACTED),
    # key=value / key: value secrets in configs, URLs, CLI echoes and dict reprs.
    (
        re.compile(
            r"""(?ix)
            (["']?\b(?:password|passwd|pass|auth_pass|secret|profile_key|key|token|csrf_token
                     |admin_password|client_key|private_key)\b["']?\s*[:=]\s*)
            ("[^"]*"|'[^']*'|[^\s,;&}\]]+)
            """
        ),
        r"\1" + REDACTED,
    ),
    # "--key SECRET" in provisioning profile rules.
    (re.compile(r"(--key\s+)(\S+)"), r"\1" + REDACTED),
    # user:password@ in URLs.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+:)([^@\s/]+)(@)"), r"\1" + REDACTED + r"\3"),
)


def redact(text: str) -> str:
    """Return ``text`` with every known form of secret replaced by ``<redacted>``."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Formats the record's message once, redacts it, and freezes the result on the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        record.msg = cleaned
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, and any ``extra`` fields given."""

    _STANDARD: Final = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": round(record.created, 6),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in self._STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool) else repr(value)
        if record.exc_info:
            entry["exc"] = record.exc_text or self.formatException(record.exc_info)
        # Redact each value before encoding: redacting the encoded text could break escapes.
        clean = {k: redact(v) if isinstance(v, str) else v for k, v in entry.items()}
        return json.dumps(clean, ensure_ascii=False)


class RecentLogHandler(logging.Handler):
    """Keeps the last ``capacity`` formatted, redacted lines in memory (for the web admin)."""

    def __init__(self, capacity: int = 500) -> None:
        super().__init__()
        self.lines: deque[str] = deque(maxlen=capacity)
        self.addFilter(RedactingFilter())
        self.setFormatter(logging.Formatter(HUMAN_FORMAT, datefmt="%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def recent(self, limit: int) -> list[str]:
        return list(self.lines)[-limit:] if limit > 0 else []


HUMAN_FORMAT: Final = "%(asctime)s.%(msecs)03d %(levelname)-7s %(name)s: %(message)s"


def configure(
    level: str | int = "INFO", *, json_lines: bool = False, stream: TextIO | None = None
) -> logging.Handler:
    """Install pi-ata's single logging configuration on the root logger and return its handler."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(RedactingFilter())
    if json_lines:
        handler.setFormatter(JsonLinesFormatter())
    else:
        handler.setFormatter(logging.Formatter(HUMAN_FORMAT, datefmt="%H:%M:%S"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    return handler
