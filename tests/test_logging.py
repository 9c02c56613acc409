"""Logging: one configuration, readable or JSON lines, and secrets never reach the output."""

from __future__ import annotations

import io
import json
import logging

import pytest

from ata.log import REDACTED, configure, redact


@pytest.fixture
def capture() -> io.StringIO:
    return io.StringIO()


SECRETS = [
    (
        'Authorization: Digest username="alice", realm="x", nonce="abc", '
        'response="6629fae49393a05397450978507c4ef1"',
        "6629fae49393a05397450978507c4ef1",
    ),
    ('Proxy-Authorization: Digest username="bob", response="deadbeefdeadbeef"', "deadbeefdeadbeef"),
    ("password = 'hunter2'", "hunter2"),
    ('{"password": "s3cr3t!"}', "s3cr3t!"),
    ("auth_pass=topsecret;answermode=auto", "topsecret"),
    ("profile rule: [--key VerySecretKey] https://prov.example/$MA.cfg", "VerySecretKey"),
    ("fetching https://admin:pa55word@prov.example/x.xml", "pa55word"),
    ("response=0123abcd, cnonce=99887766", "0123abcd"),
]


@pytest.mark.parametrize(("text", "secret"), SECRETS)
def test_redact_removes_secret(text: str, secret: str) -> None:
    cleaned = redact(text)
    assert secret not in cleaned
    assert REDACTED in cleaned


def test_redact_keeps_ordinary_text() -> None:
    text = "line 1 registered as sip:alice@example.com, expires in 3600 s"
    assert redact(text) == text


@pytest.mark.parametrize("json_lines", [False, True])
def test_configured_logging_redacts_args_and_exceptions(
    capture: io.StringIO, json_lines: bool
) -> None:
    configure("DEBUG", json_lines=json_lines, stream=capture)
    log = logging.getLogger("ata.test")
    log.info("sending %s", 'Authorization: Digest username="a", response="feedface1234"')
    try:
        raise ValueError("bad password=letmein in profile")
    except ValueError:
        log.exception("profile failed")
    output = capture.getvalue()
    assert "feedface1234" not in output
    assert "letmein" not in output
    assert "profile failed" in output
    if json_lines:
        records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
        assert [r["level"] for r in records] == ["INFO", "ERROR"]
        assert records[0]["logger"] == "ata.test"
    logging.getLogger().handlers.clear()
