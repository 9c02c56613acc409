"""message-summary subscriptions (RFC 6665 / RFC 3842) of a real UserAgent against a scripted
notifier on a fake clock: subscribe, NOTIFY → MessageWaiting, refresh before expiry, digest
challenge, give up quietly on 489/404, retry later on other failures, re-subscribe when the
notifier terminates."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st

from ata.sip.call import MessageWaiting
from ata.sip.digest import DigestClient
from ata.sip.message import Request, Response, make_response
from ata.sip.parser import parse_message
from ata.sip.sdp import AudioConfig
from ata.sip.subscription import SubInput, Subscription, SubState, outcome_of
from ata.sip.ua import UaConfig, UserAgent
from ata.sip.uri import SipURI
from tests.sip.test_ua import Net

A = ("192.0.2.1", 5060)
N = ("192.0.2.20", 5060)  # the notifier (a voicemail server / proxy)


class Notifier:
    """Answers SUBSCRIBE with a scripted status and sends NOTIFYs in the dialog."""

    def __init__(self, net: Net, answer: Callable[[Request], int] | None = None) -> None:
        self.net = net
        self.answer = answer or (lambda req: 200)
        self.subscribes: list[Request] = []
        self.notify_answers: list[int] = []
        self.expires = 600
        self.tag = "srv1"
        self.cseq = 0
        self.last: Request | None = None
        net.handlers[N] = self.receive

    def receive(self, data: bytes, src: tuple[str, int]) -> None:
        msg = parse_message(data)
        if isinstance(msg, Response):
            self.notify_answers.append(msg.status)
            return
        assert msg.method == "SUBSCRIBE"
        self.subscribes.append(msg)
        self.last = msg
        status = self.answer(msg)
        headers: list[tuple[str, object]] = [("Contact", f"<sip:mwi@{N[0]}:{N[1]}>")]
        if status == 407:
            headers.append(("Proxy-Authenticate", 'Digest realm="example.com", nonce="n1"'))
        if status == 423:
            headers.append(("Min-Expires", "1800"))
        if status == 200:
            headers.append(("Expires", self.expires))
        resp = make_response(msg, status, to_tag=self.tag, headers=headers)
        self.net.uas[A].receive(resp.to_bytes(), N, self.net.now)

    def notify(self, body: str, state: str = "active;expires=600") -> None:
        assert self.last is not None
        sub = self.last
        self.cseq += 1
        raw = (
            f"NOTIFY sip:alice@{A[0]}:{A[1]} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {N[0]}:{N[1]};branch=z9hG4bKn{self.cseq}x{self.net.now:.0f}\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:alice@example.com>;tag={self.tag}\r\n"
            f"To: {sub.headers.get('From')}\r\n"
            f"Call-ID: {sub.call_id}\r\n"
            f"CSeq: {self.cseq} NOTIFY\r\n"
            f"Contact: <sip:mwi@{N[0]}:{N[1]}>\r\n"
            "Event: message-summary\r\n"
            f"Subscription-State: {state}\r\n"
            "Content-Type: application/simple-message-summary\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}"
        )
        self.net.uas[A].receive(raw.encode(), N, self.net.now)
        self.net.pump()


def setup(
    answer: Callable[[Request], int] | None = None, creds: bool = False
) -> tuple[UserAgent, Net, Notifier]:
    cfg = UaConfig(
        user="alice",
        domain="example.com",
        local_host=A[0],
        local_port=A[1],
        outbound_proxy=N,
        audio=AudioConfig(address=A[0], port=40000),
    )
    ua = UserAgent(cfg, credentials=DigestClient("alice", "pw") if creds else None)
    net = Net({A: ua})
    return ua, net, Notifier(net, answer)


YES = "Messages-Waiting: yes\r\nMessage-Account: sip:alice@example.com\r\nVoice-Message: 2/8\r\n"
NO = "Messages-Waiting: no\r\nVoice-Message: 0/8\r\n"


def state_of(sub: Subscription) -> SubState:
    return sub.state  # (a call: mypy would narrow ``sub.state`` across net.run())


def _mwi(net: Net) -> list[bool]:
    return [e.waiting for e in net.take(A) if isinstance(e, MessageWaiting)]


def test_subscribe_notify_and_refresh() -> None:
    ua, net, srv = setup()
    sub = ua.subscribe_mwi(net.now, expires=600)
    assert sub is not None
    net.pump()
    first = srv.subscribes[0]
    assert first.headers.get("Event") == "message-summary"
    assert first.headers.get("Accept") == "application/simple-message-summary"
    assert str(first.uri) == "sip:alice@example.com" and not first.to.tag
    assert sub.state is SubState.ACTIVE
    srv.notify(YES)
    srv.notify(NO)
    assert _mwi(net) == [True, False]
    assert srv.notify_answers == [200, 200]
    # refresh at granted - 60 s, inside the dialog
    assert sub.timer_at == 540.0
    net.run(600)
    assert len(srv.subscribes) == 2
    refresh = srv.subscribes[1]
    assert refresh.to.tag == "srv1" and refresh.call_id == first.call_id
    assert refresh.cseq.seq == first.cseq.seq + 1
    assert str(refresh.uri) == f"sip:mwi@{N[0]}:{N[1]}"
    net.run(3000)
    assert len(srv.subscribes) >= 6  # keeps refreshing
    assert sub.state is SubState.ACTIVE


def test_notify_before_the_2xx_is_accepted() -> None:
    ua, net, srv = setup(answer=lambda req: 100)  # the 2xx is "late"
    ua.subscribe_mwi(net.now)
    net.pump()
    srv.notify(YES)
    assert _mwi(net) == [True]
    assert srv.notify_answers == [200]


def test_unknown_event_package_gives_up_quietly() -> None:
    for status in (489, 404, 403, 405):
        ua, net, srv = setup(answer=lambda req, s=status: s)  # type: ignore[misc]
        sub = ua.subscribe_mwi(net.now)
        assert sub is not None
        net.run(10_000)
        assert len(srv.subscribes) == 1, status
        assert sub.state is SubState.STOPPED
        timer = ua.get_timer()
        assert timer is None or timer > 10_000  # nothing pending for it
        assert not _mwi(net)


def test_other_failures_retry_later() -> None:
    answers = iter([500, 503, 200])
    ua, net, srv = setup(answer=lambda req: next(answers))
    sub = ua.subscribe_mwi(net.now)
    assert sub is not None
    net.pump()
    assert state_of(sub) is SubState.WAITING
    net.run(299)
    assert len(srv.subscribes) == 1
    net.run(301)
    assert len(srv.subscribes) == 2
    net.run(601)
    assert len(srv.subscribes) == 3 and state_of(sub) is SubState.ACTIVE


def test_no_answer_retries_later() -> None:
    ua, net, srv = setup()
    net.drop = lambda data: data.startswith(b"SUBSCRIBE") and net.now < 100
    sub = ua.subscribe_mwi(net.now)
    assert sub is not None
    net.run(40)
    assert state_of(sub) is SubState.WAITING and not srv.subscribes
    net.run(400)
    assert state_of(sub) is SubState.ACTIVE and len(srv.subscribes) == 1


def test_challenge_is_answered_once() -> None:
    answers = iter([407, 200])
    ua, net, srv = setup(answer=lambda req: next(answers), creds=True)
    sub = ua.subscribe_mwi(net.now)
    assert sub is not None
    net.pump()
    assert len(srv.subscribes) == 2
    assert "Proxy-Authorization" in srv.subscribes[1].headers
    assert srv.subscribes[1].cseq.seq == srv.subscribes[0].cseq.seq + 1
    assert sub.state is SubState.ACTIVE


def test_endless_challenges_stop() -> None:
    ua, net, srv = setup(answer=lambda req: 407, creds=True)
    sub = ua.subscribe_mwi(net.now)
    assert sub is not None
    net.pump()
    assert len(srv.subscribes) <= 3
    assert sub.state is SubState.WAITING


def test_interval_too_brief_uses_min_expires() -> None:
    answers = iter([423, 200])
    ua, net, srv = setup(answer=lambda req: next(answers))
    sub = ua.subscribe_mwi(net.now, expires=60)
    assert sub is not None
    net.pump()
    assert [s.headers.get("Expires") for s in srv.subscribes] == ["60", "1800"]
    assert sub.state is SubState.ACTIVE


def test_terminated_deactivated_resubscribes_at_once() -> None:
    ua, net, srv = setup()
    sub = ua.subscribe_mwi(net.now)
    assert sub is not None
    net.pump()
    srv.notify(NO, state="terminated;reason=deactivated")
    assert len(srv.subscribes) == 2
    assert not srv.subscribes[1].to.tag  # a new dialog
    assert sub.state is SubState.ACTIVE


def test_terminated_rejected_stops() -> None:
    ua, net, srv = setup()
    sub = ua.subscribe_mwi(net.now)
    assert sub is not None
    net.pump()
    srv.notify(NO, state="terminated;reason=rejected")
    net.run(10_000)
    assert len(srv.subscribes) == 1 and sub.state is SubState.STOPPED


def test_notify_for_other_event_or_unknown_subscription() -> None:
    ua, net, srv = setup()
    ua.subscribe_mwi(net.now)
    net.pump()
    srv.notify(YES)
    # a stray NOTIFY with a To tag we never gave: 481
    assert srv.last is not None
    srv.last.headers.set("From", "<sip:alice@example.com>;tag=unknown")
    srv.notify(YES)
    assert srv.notify_answers == [200, 481]


def test_stop_unsubscribes() -> None:
    ua, net, srv = setup()
    sub = ua.subscribe_mwi(net.now)
    assert sub is not None
    net.pump()
    ua.stop_subscriptions(net.now)
    net.pump()
    assert srv.subscribes[-1].headers.get("Expires") == "0"
    assert sub.state is SubState.STOPPED
    net.run(10_000)
    assert len(srv.subscribes) == 2


@given(st.lists(st.sampled_from(list(SubInput)), max_size=30))
def test_table_never_leaves_stopped(inputs: list[SubInput]) -> None:
    sub = Subscription("message-summary", "x", SipURI("h"), "c", "t")
    stopped = False
    for inp in inputs:
        sub.step(inp)
        stopped = stopped or sub.state is SubState.STOPPED
        if stopped:
            assert sub.state is SubState.STOPPED


@given(st.integers(0, 10**6))
def test_refresh_is_before_expiry(granted: int) -> None:
    sub = Subscription("message-summary", "x", SipURI("h"), "c", "t")
    delay = sub.refresh_delay(granted)
    assert delay >= 5.0
    if granted >= 10:
        assert delay < granted


def test_outcomes() -> None:
    assert outcome_of(489) is SubInput.GIVE_UP
    assert outcome_of(404) is SubInput.GIVE_UP
    assert outcome_of(500) is SubInput.RETRY_LATER
    assert outcome_of(408) is SubInput.RETRY_LATER
