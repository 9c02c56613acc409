"""Sans-IO registration client against an in-memory registrar that uses real Digest checks."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ata.sip.digest import AuthOutcome, DigestServer
from ata.sip.message import Request, Response, make_response
from ata.sip.parser import parse_message
from ata.sip.registration import (
    BindingsReported,
    KeepAliveDue,
    Purpose,
    Registration,
    RegistrationConfig,
    RegState,
    StateChanged,
)
from ata.sip.uri import SipURI, parse_uri

SECRET = b"k" * 32
LOCAL = ("192.168.1.20", 5060)


class FakeRegistrar:
    """Challenges with a real DigestServer, keeps bindings, can be told to misbehave."""

    def __init__(self, users: dict[str, str], *, min_expires: int = 0, max_expires: int = 3600):
        self.users = users
        self.digest = DigestServer("pi.test", SECRET, lifetime=300)
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.bindings: dict[str, int] = {}
        self.seen: list[Request] = []
        self.received: tuple[str, int] | None = None

    def handle(self, request: Request, now: float) -> Response:
        # every request goes over the wire and back through the parser
        request = parse_message(request.to_bytes())  # type: ignore[assignment]
        assert isinstance(request, Request)
        self.seen.append(request)
        if request.method == "OPTIONS":
            return make_response(request, 200)
        auth = request.headers.get("Authorization")
        if auth is None:
            return self._challenge(request, now)
        result = self.digest.verify(auth, "REGISTER", self.users.get, now)
        if result.outcome is AuthOutcome.STALE:
            return self._challenge(request, now, stale=True)
        if result.outcome is not AuthOutcome.OK:
            return self._challenge(request, now)
        expires = request.expires if request.expires is not None else 3600
        contacts = request.contacts
        if contacts and 0 < expires < self.min_expires:
            return make_response(request, 423, headers=[("Min-Expires", self.min_expires)])
        for contact in contacts:
            e = contact.expires if contact.expires is not None else expires
            key = str(contact.uri)
            if e == 0:
                self.bindings.pop(key, None)
            else:
                self.bindings[key] = min(e, self.max_expires)
        headers = [("Contact", f"<{k}>;expires={v}") for k, v in self.bindings.items()]
        response = make_response(request, 200, to_tag="reg", headers=headers)
        if self.received is not None:
            via = response.top_via
            via.params["received"] = self.received[0]
            via.params["rport"] = str(self.received[1])
            response.headers.set("Via", via)
        return response

    def _challenge(self, request: Request, now: float, stale: bool = False) -> Response:
        values = self.digest.challenges(now, stale=stale)
        return make_response(
            request, 401, to_tag="reg", headers=[("WWW-Authenticate", v) for v in values]
        )


def config(password: str = "secret", **kwargs: object) -> RegistrationConfig:  # noqa: S107
    uri = parse_uri("sip:alice@pi.test")
    assert isinstance(uri, SipURI)
    return RegistrationConfig(aor=uri, password=password, **kwargs)  # type: ignore[arg-type]


def make(cfg: RegistrationConfig | None = None, transport: str = "udp") -> Registration:
    counter = iter(range(10**6))
    return Registration(
        cfg or config(), LOCAL, transport, new_id=lambda: f"id{next(counter)}", rng=random.Random(7)
    )


def pump(reg: Registration, registrar: FakeRegistrar, now: float, limit: int = 10) -> list[Request]:
    """Deliver every queued request to the registrar and its answer back (no loss)."""
    sent: list[Request] = []
    for _ in range(limit):
        batch = reg.requests_to_send()
        if not batch:
            break
        for request in batch:
            sent.append(request)
            reg.receive_response(registrar.handle(request, now), now)
    return sent


def events(reg: Registration) -> list[object]:
    out = []
    while (event := reg.next_event()) is not None:
        out.append(event)
    return out


def test_register_with_digest_and_refresh_before_expiry() -> None:
    registrar = FakeRegistrar({"alice": "secret"}, max_expires=60)
    reg = make(config(expires=120))
    reg.start(0.0)
    sent = pump(reg, registrar, 0.0)
    assert len(sent) == 2
    assert "Authorization" not in sent[0].headers
    assert "Authorization" in sent[1].headers
    assert sent[1].cseq.seq == sent[0].cseq.seq + 1
    assert {r.call_id for r in sent} == {reg.call_id}
    assert reg.state is RegState.REGISTERED
    assert reg.granted == 60
    assert reg.expires_at == 60.0
    # half of 60 s, but at least 32 s before expiry -> 28 s
    assert reg.time_to_refresh(0.0) == pytest.approx(28.0)
    assert reg.get_timer() == pytest.approx(28.0)
    assert [e.new for e in events(reg) if isinstance(e, StateChanged)] == [
        RegState.REGISTERING,
        RegState.REGISTERED,
    ]
    contact = sent[1].contacts[0]
    assert str(contact.uri) == "sip:alice@192.168.1.20:5060"
    assert sent[1].top_via.has_rport
    reg.handle_timer(27.9)
    assert reg.requests_to_send() == []
    reg.handle_timer(28.0)
    assert reg.state is RegState.REFRESHING
    refresh = pump(reg, registrar, 28.0)
    # pre-emptive credentials on the cached nonce: one request, nonce count 2
    assert len(refresh) == 1
    assert "nc=00000002" in (refresh[0].headers.get("Authorization") or "")
    assert reg.state is RegState.REGISTERED
    assert reg.expires_at == 88.0


def test_wrong_password_is_a_clear_auth_failure() -> None:
    registrar = FakeRegistrar({"alice": "secret"})
    reg = make(config(password="wrong"))
    reg.start(0.0)
    sent = pump(reg, registrar, 0.0)
    assert len(sent) == 2  # no loop: one answer to the challenge, then give up
    assert reg.state is RegState.AUTH_FAILED
    assert reg.status == 401
    changes = [e for e in events(reg) if isinstance(e, StateChanged)]
    assert changes[-1].new is RegState.AUTH_FAILED
    assert changes[-1].status == 401
    assert reg.time_to_refresh(0.0) == pytest.approx(1200.0)
    # the retry after the long delay tries again (and fails again)
    reg.handle_timer(1200.0)
    assert reg.state is RegState.REGISTERING
    pump(reg, registrar, 1200.0)
    assert reg.state is RegState.AUTH_FAILED


def test_stale_nonce_is_answered_without_failing() -> None:
    registrar = FakeRegistrar({"alice": "secret"})
    registrar.digest = DigestServer("pi.test", SECRET, lifetime=10)
    reg = make(config(expires=100))
    reg.start(0.0)
    pump(reg, registrar, 0.0)
    assert reg.state is RegState.REGISTERED
    reg.handle_timer(50.0)
    sent = pump(reg, registrar, 50.0)
    # cached nonce is stale now: registrar says stale=true, we answer the new nonce
    assert len(sent) == 2
    assert reg.state is RegState.REGISTERED


def test_interval_too_brief_uses_min_expires() -> None:
    registrar = FakeRegistrar({"alice": "secret"}, min_expires=600)
    reg = make(config(expires=60))
    reg.start(0.0)
    sent = pump(reg, registrar, 0.0)
    assert sent[-1].expires == 600
    assert reg.state is RegState.REGISTERED
    assert reg.granted == 600


def test_timeout_backoff_and_forbidden() -> None:
    reg = make()
    reg.start(0.0)
    (first,) = reg.requests_to_send()
    reg.request_failed(first.cseq.seq, 32.0)
    assert reg.state is RegState.FAILED
    assert reg.status == 408
    delay1 = reg.time_to_refresh(32.0)
    assert delay1 is not None
    assert 24.0 <= delay1 <= 36.0
    reg.handle_timer(32.0 + delay1)
    assert reg.state is RegState.REGISTERING
    (second,) = reg.requests_to_send()
    reg.request_failed(second.cseq.seq, 100.0)
    delay2 = reg.time_to_refresh(100.0)
    assert delay2 is not None
    assert 48.0 <= delay2 <= 72.0  # doubled
    reg.handle_timer(100.0 + delay2)
    (third,) = reg.requests_to_send()
    reg.receive_response(make_response(third, 403), 200.0)
    assert reg.state is RegState.FAILED
    assert reg.status == 403
    assert reg.time_to_refresh(200.0) == pytest.approx(1200.0)
    # a late answer to an old request is ignored
    reg.receive_response(make_response(first, 200), 201.0)
    assert reg.state is RegState.FAILED


def test_service_unavailable_retry_after() -> None:
    reg = make()
    reg.start(0.0)
    (request,) = reg.requests_to_send()
    reg.receive_response(make_response(request, 503, headers=[("Retry-After", "90")]), 1.0)
    assert reg.time_to_refresh(1.0) == pytest.approx(90.0)


def test_nat_learning_rewrites_contact_and_removes_old_binding() -> None:
    registrar = FakeRegistrar({"alice": "secret"})
    registrar.received = ("203.0.113.5", 40000)
    reg = make()
    reg.start(0.0)
    sent = pump(reg, registrar, 0.0)
    assert reg.contact_address == ("203.0.113.5", 40000)
    last = sent[-1]
    contacts = {str(c.uri): c.expires for c in last.contacts}
    assert contacts == {
        "sip:alice@203.0.113.5:40000": None,
        "sip:alice@192.168.1.20:5060": 0,
    }
    assert reg.state is RegState.REGISTERED
    assert list(registrar.bindings) == ["sip:alice@203.0.113.5:40000"]


def test_stop_unregisters_and_query_reports_bindings() -> None:
    registrar = FakeRegistrar({"alice": "secret"})
    reg = make()
    reg.start(0.0)
    pump(reg, registrar, 0.0)
    reg.query(1.0)
    pump(reg, registrar, 1.0)
    reported = [e for e in events(reg) if isinstance(e, BindingsReported)]
    assert [str(c.uri) for c in reported[-1].contacts] == ["sip:alice@192.168.1.20:5060"]
    reg.stop(2.0)
    assert reg.state is RegState.UNREGISTERING
    sent = pump(reg, registrar, 2.0)
    assert sent[0].expires == 0
    assert reg.state is RegState.STOPPED
    assert registrar.bindings == {}
    assert reg.get_timer() is None


def test_stop_before_registered_and_idle() -> None:
    reg = make()
    reg.stop(0.0)
    assert reg.state is RegState.STOPPED
    assert reg.requests_to_send() == []


def test_outbound_proxy_route_and_tcp_contact() -> None:
    proxy = parse_uri("sip:proxy.example:5070")
    assert isinstance(proxy, SipURI)
    reg = make(config(outbound_proxy=proxy), transport="tcp")
    reg.start(0.0)
    (request,) = reg.requests_to_send()
    assert request.headers.get("Route") == "<sip:proxy.example:5070;lr>"
    assert str(request.uri) == "sip:pi.test"
    assert request.top_via.transport == "TCP"
    assert request.contacts[0].uri.params.get("transport") == "tcp"  # type: ignore[union-attr]


def test_options_keepalive_loss_triggers_reregistration() -> None:
    registrar = FakeRegistrar({"alice": "secret"})
    reg = make(config(keepalive="options", keepalive_interval=15.0, expires=3600))
    reg.start(0.0)
    pump(reg, registrar, 0.0)
    now = 15.0
    reg.handle_timer(now)
    (ping,) = reg.requests_to_send()
    assert ping.method == "OPTIONS"
    assert reg.purpose_of(ping.cseq.seq) is Purpose.OPTIONS
    reg.receive_response(registrar.handle(ping, now), now)
    assert reg.keepalive_lost == 0
    assert reg.keepalives_answered == 1
    for _ in range(3):
        now += 15.0
        reg.handle_timer(now)
        (ping,) = reg.requests_to_send()
        reg.request_failed(ping.cseq.seq, now + 32.0)
    assert reg.state is RegState.FAILED
    assert reg.reason == "keep-alive lost"
    retry = reg.get_timer()
    assert retry is not None
    reg.handle_timer(retry)
    pump(reg, registrar, retry)
    assert reg.state is RegState.REGISTERED


def test_crlf_keepalive_events() -> None:
    registrar = FakeRegistrar({"alice": "secret"})
    reg = make(config(keepalive="crlf", keepalive_interval=10.0), transport="tcp")
    reg.start(0.0)
    pump(reg, registrar, 0.0)
    events(reg)
    reg.handle_timer(10.0)
    reg.handle_timer(20.0)
    assert [e for e in events(reg) if isinstance(e, KeepAliveDue)] == [KeepAliveDue()] * 2
    assert reg.requests_to_send() == []


def test_challenge_without_usable_digest() -> None:
    reg = make()
    reg.start(0.0)
    (request,) = reg.requests_to_send()
    reg.receive_response(
        make_response(request, 401, headers=[("WWW-Authenticate", 'Basic realm="x"')]), 0.1
    )
    assert reg.state is RegState.AUTH_FAILED
    assert "no usable Digest" in reg.reason


def test_registrar_removing_binding_is_a_failure() -> None:
    reg = make()
    reg.start(0.0)
    (request,) = reg.requests_to_send()
    reg.receive_response(make_response(request, 200, headers=[("Expires", "0")]), 0.1)
    assert reg.state is RegState.FAILED


def test_proxy_and_registrar_both_challenge() -> None:
    """An outbound proxy asks 407 (its realm), then the registrar 401 (another realm)."""
    proxy_auth = DigestServer("proxy.test", SECRET)
    registrar = FakeRegistrar({"alice": "secret"})
    outbound = parse_uri("sip:proxy.test")
    assert isinstance(outbound, SipURI)
    reg = make(config(outbound_proxy=outbound))
    reg.start(0.0)
    statuses = []
    for _ in range(5):
        batch = reg.requests_to_send()
        if not batch:
            break
        (request,) = batch
        wire = parse_message(request.to_bytes())
        assert isinstance(wire, Request)
        value = wire.headers.get("Proxy-Authorization")
        ok = value is not None and (
            proxy_auth.verify(value, "REGISTER", {"alice": "secret"}.get, 0.0).outcome
            is AuthOutcome.OK
        )
        if not ok:
            values = proxy_auth.challenges(0.0)
            response = make_response(wire, 407, headers=[("Proxy-Authenticate", v) for v in values])
        else:
            response = registrar.handle(wire, 0.0)
        statuses.append(response.status)
        reg.receive_response(response, 0.0)
    assert statuses == [407, 401, 200]
    assert reg.state is RegState.REGISTERED


def test_late_register_answer_after_stop_does_not_end_unregistration() -> None:
    registrar = FakeRegistrar({"alice": "secret"})
    reg = make()
    reg.start(0.0)
    pump(reg, registrar, 0.0)
    reg.handle_timer(reg.get_timer() or 0.0)  # refresh in flight
    (refresh,) = reg.requests_to_send()
    reg.stop(1.0)
    (unregister,) = reg.requests_to_send()
    assert unregister.expires == 0
    reg.receive_response(registrar.handle(refresh, 1.0), 1.0)  # the refresh's 200 arrives late
    assert reg.state is RegState.UNREGISTERING
    reg.receive_response(registrar.handle(unregister, 1.1), 1.1)
    assert reg.state is RegState.STOPPED
    assert registrar.bindings == {}


_ACTIONS = st.lists(
    st.one_of(
        st.tuples(
            st.just("respond"), st.sampled_from([200, 401, 403, 404, 407, 423, 480, 500, 503])
        ),
        st.tuples(st.just("timeout"), st.just(0)),
        st.tuples(st.just("timer"), st.just(0)),
        st.tuples(st.just("stop"), st.just(0)),
        st.tuples(st.just("start"), st.just(0)),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(_ACTIONS)
def test_random_event_sequences_keep_invariants(actions: list[tuple[str, int]]) -> None:
    server = DigestServer("pi.test", SECRET)
    reg = make(config(keepalive="options", keepalive_interval=20.0))
    reg.start(0.0)
    now = 0.0
    inflight: list[Request] = list(reg.requests_to_send())
    for kind, status in actions:
        now += 1.0
        if kind == "respond" and inflight:
            request = inflight.pop(0)
            headers: list[tuple[str, object]] = []
            if status == 401:
                headers = [("WWW-Authenticate", v) for v in server.challenges(now)]
            elif status == 407:
                headers = [("Proxy-Authenticate", v) for v in server.challenges(now)]
            elif status == 423:
                headers = [("Min-Expires", "7200")]
            elif status == 200:
                headers = [("Expires", "120")]
            reg.receive_response(make_response(request, status, headers=headers), now)
        elif kind == "timeout" and inflight:
            reg.request_failed(inflight.pop(0).cseq.seq, now)
        elif kind == "timer":
            timer = reg.get_timer()
            if timer is not None:
                now = max(now, timer)
                reg.handle_timer(now)
        elif kind == "stop":
            reg.stop(now)
        elif kind == "start" and reg.state in (RegState.IDLE, RegState.STOPPED):
            reg.start(now)
        sent = reg.requests_to_send()
        assert len(sent) <= 2  # never a storm of requests for one event
        inflight.extend(sent)
        # invariants
        if reg.state is RegState.REGISTERED:
            assert reg.expires_at is not None
            assert reg.get_timer() is not None
        if reg.state in (RegState.FAILED, RegState.AUTH_FAILED):
            assert reg.time_to_refresh(now) is not None
        if reg.state is RegState.STOPPED:
            assert reg.get_timer() is None
        while reg.next_event() is not None:
            pass
