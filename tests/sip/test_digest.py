"""Digest authentication: RFC 2617 §3.5 and RFC 7616 §3.9.1 vectors, client and server."""

from __future__ import annotations

import contextlib
import hashlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ata.sip.digest import (
    AuthOutcome,
    DigestChallenge,
    DigestClient,
    DigestError,
    DigestServer,
    NonceIssuer,
    NonceState,
    compute_ha1,
    compute_response,
    parse_challenge,
    parse_challenges,
    parse_credentials,
    select_challenge,
)

RFC2617_CHALLENGE = (
    'Digest realm="testrealm@host.com", qop="auth,auth-int", '
    'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)
RFC7616_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
RFC7616_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"


def _params(value: str) -> dict[str, str]:
    return {k: v.strip('"') for k, v in re.findall(r'(\w+)=("[^"]*"|[^,\s]+)', value)}


def test_rfc2617_section_3_5_vector() -> None:
    challenge = parse_challenge(RFC2617_CHALLENGE)
    assert challenge.qop == ("auth", "auth-int")
    client = DigestClient("Mufasa", "Circle Of Life", cnonce_factory=lambda: "0a4f113b")
    name, value = client.authorize(challenge, "GET", "/dir/index.html")
    assert name == "Authorization"
    p = _params(value)
    assert p["response"] == "6629fae49393a05397450978507c4ef1"
    assert p["nc"] == "00000001"
    assert p["qop"] == "auth"
    assert p["opaque"] == "5ccc069c403ebaf9f0171e9517f40e41"
    assert p["cnonce"] == "0a4f113b"


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_section_3_9_1_vectors(algorithm: str, expected: str) -> None:
    value = (
        f'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algorithm}, '
        f'nonce="{RFC7616_NONCE}", opaque="{RFC7616_OPAQUE}"'
    )
    client = DigestClient("Mufasa", "Circle of Life", cnonce_factory=lambda: RFC7616_CNONCE)
    _, answer = client.authorize(parse_challenge(value), "GET", "/dir/index.html")
    p = _params(answer)
    assert p["response"] == expected
    assert p["algorithm"] == algorithm


def test_nonce_count_increments_per_nonce_and_restarts_for_a_new_nonce() -> None:
    client = DigestClient("u", "p", cnonce_factory=lambda: "c")
    first = parse_challenge('Digest realm="r", nonce="n1", qop="auth"')
    counts = [_params(client.authorize(first, "REGISTER", "sip:r")[1])["nc"] for _ in range(3)]
    assert counts == ["00000001", "00000002", "00000003"]
    second = parse_challenge('Digest realm="r", nonce="n2", qop="auth"')
    assert _params(client.authorize(second, "REGISTER", "sip:r")[1])["nc"] == "00000001"
    # responses differ with nc (otherwise nc would be meaningless)
    a = _params(client.authorize(first, "REGISTER", "sip:r")[1])["response"]
    b = _params(client.authorize(first, "REGISTER", "sip:r")[1])["response"]
    assert a != b


def test_rfc2069_answer_without_qop() -> None:
    challenge = parse_challenge('Digest realm="r", nonce="abc"')
    _, value = DigestClient("u", "pw").authorize(challenge, "INVITE", "sip:bob@r")
    p = _params(value)
    assert "nc" not in p
    assert "qop" not in p
    assert "cnonce" not in p
    ha1 = hashlib.md5(b"u:r:pw").hexdigest()
    ha2 = hashlib.md5(b"INVITE:sip:bob@r").hexdigest()
    assert p["response"] == hashlib.md5(f"{ha1}:abc:{ha2}".encode()).hexdigest()


def test_md5_sess_and_auth_int_follow_the_rfc_formulas() -> None:
    challenge = parse_challenge('Digest realm="r", nonce="N", qop="auth-int", algorithm=MD5-sess')
    body = b"v=0\r\n"
    _, value = DigestClient("u", "pw", cnonce_factory=lambda: "C").authorize(
        challenge, "INVITE", "sip:x@r", body
    )
    p = _params(value)
    md5 = lambda s: hashlib.md5(s.encode()).hexdigest()  # noqa: E731
    ha1 = md5(f"{md5('u:r:pw')}:N:C")
    ha2 = md5(f"INVITE:sip:x@r:{hashlib.md5(body).hexdigest()}")
    assert p["qop"] == "auth-int"
    assert p["algorithm"] == "MD5-sess"
    assert p["response"] == md5(f"{ha1}:N:00000001:C:auth-int:{ha2}")


def test_proxy_challenge_uses_proxy_authorization() -> None:
    challenge = parse_challenge('Digest realm="r", nonce="n", qop="auth"', proxy=True)
    name, _ = DigestClient("u", "p").authorize(challenge, "INVITE", "sip:b@r")
    assert name == "Proxy-Authorization"


def test_select_strongest_supported_algorithm() -> None:
    values = [
        'Digest realm="r", nonce="n", algorithm=MD5, qop="auth"',
        'Digest realm="r", nonce="n", algorithm=SHA-256, qop="auth"',
        'Digest realm="r", nonce="n", algorithm=UNKNOWN-HASH, qop="auth"',
        'Basic realm="r"',
    ]
    chosen = select_challenge(parse_challenges(values))
    assert chosen is not None
    assert chosen.algorithm == "SHA-256"
    only_unknown = parse_challenges(['Digest realm="r", nonce="n", algorithm=FOO'])
    assert select_challenge(only_unknown) is None
    assert select_challenge(parse_challenges(['Digest realm="r", nonce="n", qop="x"'])) is None


def test_stale_and_rejected_detection() -> None:
    client = DigestClient("u", "p")
    first = parse_challenge('Digest realm="r", nonce="n1", qop="auth"')
    assert not client.rejected(first)
    client.authorize(first, "REGISTER", "sip:r")
    again = parse_challenge('Digest realm="r", nonce="n2", qop="auth"')
    assert client.rejected(again)  # answered, re-challenged without stale: bad password
    stale = parse_challenge('Digest realm="r", nonce="n3", qop="auth", stale=TRUE')
    assert stale.stale
    assert not client.rejected(stale)
    client.reset()
    assert not client.rejected(again)


@pytest.mark.parametrize(
    "value",
    [
        "Digest",
        'Digest nonce="n"',
        'Digest realm="r"',
        'Basic realm="r"',
        'Digest realm="r", nonce="unterminated',
        "",
    ],
)
def test_malformed_challenges_raise_digest_error(value: str) -> None:
    with pytest.raises(DigestError):
        parse_challenge(value)


@given(st.text(max_size=200))
def test_challenge_parser_never_crashes(text: str) -> None:
    try:
        challenge = parse_challenge(text)
    except DigestError:
        return
    assert isinstance(challenge, DigestChallenge)


@given(st.text(max_size=200))
def test_credentials_parser_never_crashes(text: str) -> None:
    with contextlib.suppress(DigestError):
        parse_credentials(text)


# --- server side -------------------------------------------------------------------------------

SECRET = b"0123456789abcdef0123456789abcdef"


def test_nonce_issuer_valid_stale_invalid() -> None:
    issuer = NonceIssuer(SECRET, lifetime=30)
    nonce = issuer.issue(1000.0, "pi")
    assert issuer.check(nonce, 1000.0, "pi") is NonceState.VALID
    assert issuer.check(nonce, 1029.0, "pi") is NonceState.VALID
    assert issuer.check(nonce, 1031.0, "pi") is NonceState.STALE
    assert issuer.check(nonce, 1000.0, "other-realm") is NonceState.INVALID
    other = NonceIssuer(b"X" * 32, lifetime=30)
    assert other.check(nonce, 1000.0, "pi") is NonceState.INVALID
    tampered = ("A" if nonce[0] != "A" else "B") + nonce[1:]
    assert issuer.check(tampered, 1000.0, "pi") is NonceState.INVALID
    assert issuer.check("short", 1000.0, "pi") is NonceState.INVALID
    assert issuer.check("é" * 44, 1000.0, "pi") is NonceState.INVALID
    assert issuer.issue(1000.0, "pi") != nonce  # salted


def test_nonce_issuer_rejects_short_secrets() -> None:
    with pytest.raises(ValueError):
        NonceIssuer(b"short")


def _server_round(server: DigestServer, client: DigestClient, now: float, method: str = "REGISTER"):
    challenges = parse_challenges(server.challenges(now))
    chosen = select_challenge(challenges)
    assert chosen is not None
    _, value = client.authorize(chosen, method, "sip:pi")
    return chosen, value


def test_server_accepts_the_client_and_prefers_sha256() -> None:
    users = {"alice": "secret"}
    server = DigestServer("pi", SECRET, lifetime=60)
    chosen, value = _server_round(server, DigestClient("alice", "secret"), 10.0)
    assert chosen.algorithm == "SHA-256"
    result = server.verify(value, "REGISTER", users.get, 10.5, request_uri="sip:pi")
    assert result.outcome is AuthOutcome.OK
    assert result.username == "alice"
    # replaying the very same credentials (same nc) is refused
    again = server.verify(value, "REGISTER", users.get, 11.0)
    assert again.outcome is AuthOutcome.STALE


def test_server_md5_only_client() -> None:
    server = DigestServer("pi", SECRET, algorithms=("MD5",))
    _, value = _server_round(server, DigestClient("bob", "pw"), 0.0)
    assert server.verify(value, "REGISTER", {"bob": "pw"}.get, 1.0).outcome is AuthOutcome.OK


def test_server_wrong_password_unknown_user_and_stale() -> None:
    server = DigestServer("pi", SECRET, lifetime=60)
    users = {"alice": "secret"}
    _, wrong = _server_round(server, DigestClient("alice", "nope"), 0.0)
    assert server.verify(wrong, "REGISTER", users.get, 1.0).outcome is AuthOutcome.FAILED
    _, unknown = _server_round(server, DigestClient("mallory", "x"), 0.0)
    result = server.verify(unknown, "REGISTER", users.get, 1.0)
    assert result.outcome is AuthOutcome.FAILED
    assert result.reason == "unknown user"
    _, late = _server_round(server, DigestClient("alice", "secret"), 0.0)
    assert server.verify(late, "REGISTER", users.get, 61.0).outcome is AuthOutcome.STALE
    # the stale re-challenge carries stale=true and the client answers it again
    client = DigestClient("alice", "secret")
    stale_values = server.challenges(61.0, stale=True)
    stale_challenge = select_challenge(parse_challenges(stale_values))
    assert stale_challenge is not None
    assert stale_challenge.stale
    assert not client.rejected(stale_challenge)
    _, value = client.authorize(stale_challenge, "REGISTER", "sip:pi")
    assert server.verify(value, "REGISTER", users.get, 61.5).outcome is AuthOutcome.OK


def test_server_rejects_wrong_method_and_malformed() -> None:
    server = DigestServer("pi", SECRET)
    users = {"alice": "secret"}
    _, value = _server_round(server, DigestClient("alice", "secret"), 0.0)
    assert server.verify(value, "INVITE", users.get, 1.0).outcome is AuthOutcome.FAILED
    assert server.verify("Digest junk", "REGISTER", users.get, 1.0).outcome is (
        AuthOutcome.MALFORMED
    )
    assert server.verify(value, "REGISTER", users.get, 1.0, request_uri="sip:other").outcome is (
        AuthOutcome.MALFORMED
    )


def test_compute_response_rejects_unknown_algorithm() -> None:
    with pytest.raises(DigestError):
        compute_response(algorithm="CRC32", ha1="x", nonce="n", method="M", uri="u")
    assert compute_ha1("SHA-256", "a", "b", "c") == hashlib.sha256(b"a:b:c").hexdigest()


@given(
    user=st.text(
        alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF),
        min_size=1,
        max_size=20,
    ),
    password=st.text(max_size=30),
    method=st.sampled_from(["REGISTER", "INVITE", "BYE"]),
)
def test_client_and_server_agree(user: str, password: str, method: str) -> None:
    server = DigestServer("pi", SECRET)
    chosen = select_challenge(parse_challenges(server.challenges(5.0)))
    assert chosen is not None
    _, value = DigestClient(user, password).authorize(chosen, method, "sip:pi")
    result = server.verify(value, method, {user: password}.get, 5.0)
    assert result.outcome is AuthOutcome.OK
    assert result.username == user
