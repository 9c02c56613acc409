"""Minimal HTML building for the web admin: every dynamic value goes through :func:`esc`.

No template engine (one less dependency on a Pi); pages are small. Strings built here are
``Html`` (already safe); anything else is escaped when joined, so a SIP display name like
``<script>`` can never become markup (the SPA-941 XSS class).
"""

from __future__ import annotations

import html
from typing import Final


class Html(str):
    """Text that is already safe HTML."""

    __slots__ = ()


def esc(value: object) -> Html:
    return value if isinstance(value, Html) else Html(html.escape(str(value), quote=True))


def tag(element: str, /, *children: object, **attrs: object) -> Html:
    rendered = "".join(
        f' {key.rstrip("_").replace("_", "-")}="{esc(value)}"'
        for key, value in attrs.items()
        if value is not None and value is not False
    )
    inner = "".join(esc(child) for child in children)
    return Html(f"<{element}{rendered}>{inner}</{element}>")


def void(element: str, /, **attrs: object) -> Html:
    rendered = "".join(
        f' {key.rstrip("_").replace("_", "-")}="{esc(value)}"'
        for key, value in attrs.items()
        if value is not None and value is not False
    )
    return Html(f"<{element}{rendered}>")


def join(*parts: object) -> Html:
    return Html("".join(esc(p) for p in parts))


STYLE: Final = Html(
    "body{font-family:sans-serif;max-width:60em;margin:1em auto;padding:0 1em}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}"
    "textarea{width:100%;font-family:monospace}.err{color:#a00}.ok{color:#070}"
    "nav a{margin-right:1em}"
)


def page(title: str, body: Html, *, nav: bool = True, csrf: str | None = None) -> Html:
    links = join(
        tag("a", "Status", href="/status"),
        tag("a", "Configuration", href="/config"),
    )
    logout = (
        tag(
            "form",
            void("input", type="hidden", name="csrf", value=csrf),
            tag("button", "Log out"),
            method="post",
            action="/logout",
        )
        if csrf
        else Html("")
    )
    header = tag("nav", links, logout) if nav else Html("")
    return Html(
        "<!DOCTYPE html>"
        + tag(
            "html",
            tag(
                "head",
                void("meta", charset="utf-8"),
                tag("title", f"pi-ata: {title}"),
                tag("style", STYLE),
            ),
            tag("body", header, tag("h1", title), body),
            lang="en",
        )
    )
