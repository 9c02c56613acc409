"""Pure pieces of the web admin: escaping templates (property-tested with an HTML parser),
the per-address login back-off, sessions and generated passwords."""

from __future__ import annotations

from html.parser import HTMLParser

from hypothesis import given
from hypothesis import strategies as st

from provisioning.web.auth import LoginLimiter, Sessions, generate_password
from provisioning.web.markup import Markup, concat, escape, render


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text += data


@given(st.text())
def test_any_text_stays_text_in_content_and_attributes(text: str) -> None:
    page = render('<td title="{t}">{t}</td>', t=text)
    parser = _Collect()
    parser.feed(page)
    parser.close()
    assert parser.tags == [("td", [("title", text)])]  # no element or attribute injected
    assert parser.text == text


def test_markup_is_not_escaped_twice_but_plain_text_is() -> None:
    inner = render("<b>{x}</b>", x="<i>")
    assert inner == "<b>&lt;i&gt;</b>"
    assert render("<p>{a}{b}</p>", a=inner, b="<i>") == "<p><b>&lt;i&gt;</b>&lt;i&gt;</p>"
    assert escape(Markup("<br>")) == "<br>"
    assert escape(None) == ""
    assert escape("\"'&") == "&quot;&#x27;&amp;"
    assert concat(["<x>", Markup("<y>")]) == "&lt;x&gt;<y>"
    assert render("{n:05.1f}", n=3.14159) == "003.1"


def test_back_off_schedule_and_reset() -> None:
    limiter = LoginLimiter(free_failures=5, base_s=1.0, max_s=60.0)
    delays = [limiter.failure("a", 0.0) for _ in range(12)]
    assert delays == [0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 60, 60]
    assert limiter.retry_after("a", 10.0) == 50.0
    assert limiter.retry_after("b", 10.0) == 0.0  # other addresses unaffected
    limiter.success("a")
    assert limiter.retry_after("a", 10.0) == 0.0
    assert limiter.failures("a") == 0


def test_back_off_table_is_bounded() -> None:
    limiter = LoginLimiter(max_addresses=100)
    for index in range(1000):
        limiter.failure(f"10.0.{index // 256}.{index % 256}", 0.0)
    assert len(limiter._by_address) == 100
    assert limiter.failures("10.0.3.231") == 1  # the most recent are kept
    assert limiter.failures("10.0.0.0") == 0


def test_sessions_expire_and_are_bounded() -> None:
    sessions = Sessions(idle_s=10.0, max_s=100.0)
    token, session = sessions.create(0.0, "hash-1")
    assert sessions.get(token, 9.0, "hash-1") is session
    assert sessions.get(token, 18.0, "hash-1") is session  # idle time restarts on use
    assert sessions.get(token, 28.5) is None  # idle too long
    token, _ = sessions.create(0.0)
    for now in range(5, 100, 5):
        assert sessions.get(token, float(now)) is not None
    assert sessions.get(token, 101.0) is None  # absolute lifetime
    tokens = [sessions.create(200.0)[0] for _ in range(40)]
    assert len(sessions) == 32
    assert sessions.get(tokens[0], 200.0) is None  # the oldest were dropped
    assert sessions.get(tokens[-1], 200.0) is not None
    assert sessions.get("not-a-token", 200.0) is None
    assert sessions.get(None, 200.0) is None


def test_session_ends_when_the_password_changes() -> None:
    sessions = Sessions()
    token, _ = sessions.create(0.0, "scrypt$old")
    assert sessions.get(token, 1.0, "scrypt$old") is not None
    assert sessions.get(token, 2.0, "scrypt$new") is None
    assert sessions.get(token, 3.0, "scrypt$old") is None  # gone for good


def test_generated_passwords() -> None:
    passwords = {generate_password() for _ in range(200)}
    assert len(passwords) == 200
    for password in passwords:
        groups = password.split("-")
        assert [len(g) for g in groups] == [4, 4, 4, 4]
        assert not set(password) & set("01ilo")  # nothing to misread on a console
