"""The config form mapping: whatever a browser (or an attacker) submits, the result is either a
valid config or a list of errors with paths, and the page renders with every value escaped."""

from __future__ import annotations

from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from provisioning.validate import validate_data
from provisioning.web.forms import form_paths, form_to_data
from provisioning.web.pages import config_body
from tests.web.conftest import LINE_PASSWORD, make_config

CONFIG = make_config()
NAMES = [*sorted(form_paths(len(CONFIG.lines))), "lines[0].password_clear", "csrf", "junk"]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.scripts += tag == "script"


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(NAMES), st.text(max_size=80)))
def test_any_submission_validates_or_explains(form: dict[str, str]) -> None:
    data = form_to_data(form, CONFIG)
    config, errors = validate_data(data)
    assert (config is None) == bool(errors)
    for error in errors:
        assert error.reason
    if config is not None and "lines[0].password_clear" not in form:
        expected = form.get("lines[0].password") or LINE_PASSWORD
        assert config.lines[0].password == expected
    page = config_body(csrf="t", n_lines=len(CONFIG.lines), values=form, errors=errors, saved=None)
    parser = _Tags()
    parser.feed(page)
    assert parser.scripts == 0
    assert LINE_PASSWORD not in page


def test_partial_submissions_keep_what_was_not_sent() -> None:
    config, errors = validate_data(form_to_data({"junk": "x"}, CONFIG))
    assert errors == []
    assert config == CONFIG  # nothing sent, nothing changed
    # line 1 submitted without its (unchecked) box: disabled; line 2 not submitted: untouched
    form = {"lines[0].user": "77", "device.country": "fr"}
    config, errors = validate_data(form_to_data(form, CONFIG))
    assert errors == []
    assert config is not None
    assert config.lines[0].user == "77"
    assert not config.lines[0].enabled
    assert config.lines[0].proxy == "pbx.example.net"  # not sent: kept
    assert config.lines[0].password == LINE_PASSWORD
    assert config.lines[1] == CONFIG.lines[1]
    assert config.device.country == "fr"
    assert config.device.name == CONFIG.device.name
