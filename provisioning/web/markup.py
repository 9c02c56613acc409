"""HTML templates that escape by default.

A template is a ``str.format`` string: ``render("<td>{name}</td>", name=display_name)``. Every
substituted value is HTML-escaped (``&<>"'``) unless it is :class:`Markup` (text that is already
safe: the output of another :func:`render`, or a constant written here). So a SIP display name
``<script>alert(1)</script>`` always arrives in the page as text (the SPA-941 XSS class,
facts/sip-limits.md). Attribute values must be quoted in templates (``value="{v}"``); quotes
are escaped too.
"""

from __future__ import annotations

import html
import string
from collections.abc import Iterable
from typing import Any


class Markup(str):
    """Text that is already safe HTML (never built from untrusted text without escaping)."""

    __slots__ = ()


def escape(value: object) -> Markup:
    if isinstance(value, Markup):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


class _EscapingFormatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, Markup):
            return value if not format_spec else escape(format(str(value), format_spec))
        return escape(format(value, format_spec))


_FORMATTER = _EscapingFormatter()


def render(template: str, /, **values: object) -> Markup:
    """``template`` (trusted, written in this package) with every value escaped."""
    return Markup(_FORMATTER.vformat(template, (), values))


def concat(parts: Iterable[object]) -> Markup:
    """Join fragments, escaping those that are not :class:`Markup`."""
    return Markup("".join(escape(part) for part in parts))


def selected(flag: bool, word: str = "selected") -> Markup:
    """An HTML boolean attribute (``selected``, ``checked``, ``disabled``) or nothing."""
    return Markup(word if flag else "")
