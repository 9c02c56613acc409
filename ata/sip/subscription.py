"""An event subscription we hold (RFC 6665), e.g. message-summary for MWI (RFC 3842), sans-IO.

Theory of operation
-------------------
:class:`Subscription` is the state of one SUBSCRIBE dialog; the UA mixin
(:mod:`ata.sip.ua_subscribe`) sends its requests and feeds it responses, NOTIFYs and timers.
The Call-ID and From tag stay the same for the subscription's whole life (so the driver can
route its responses by them); a fresh SUBSCRIBE after a termination simply opens a new dialog
(new To tag). Life cycle, as a table over :class:`SubState` and :class:`SubInput`::

    IDLE --start--> SUBSCRIBING --2xx--> ACTIVE --refresh timer--> SUBSCRIBING (in dialog)
                       |  \\--401/407: retry with credentials (stays SUBSCRIBING)
                       |--423: again with Min-Expires
                       |--489/404/403/405/501/420/481/603 (no such service)--> STOPPED
                       \\--other failure / timeout--> WAITING --retry timer--> SUBSCRIBING
    ACTIVE/SUBSCRIBING --NOTIFY terminated (deactivated/timeout)--> SUBSCRIBING (new dialog)
                      --NOTIFY terminated (probation/giveup, or a Retry-After)--> WAITING
                      --NOTIFY terminated (rejected/noresource/other)--> STOPPED
    any --stop--> STOPPED

Refresh: at ``max(granted / 2, granted - 60 s)`` after the 2xx (granted = the 2xx's
Expires, else the NOTIFY's ``expires``). Retry after failure: ``retry_s`` (default 300 s).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, auto
from typing import Final

from ata.sip.dialog import Dialog
from ata.sip.uri import SipURI

GIVE_UP_STATUSES: Final = frozenset({403, 404, 405, 420, 481, 489, 501, 603})
DEFAULT_RETRY_S: Final = 300.0
MIN_REFRESH_S: Final = 5.0


class SubState(Enum):
    IDLE = auto()
    SUBSCRIBING = auto()
    ACTIVE = auto()
    WAITING = auto()
    STOPPED = auto()


class SubInput(Enum):
    START = auto()
    SUCCESS = auto()
    GIVE_UP = auto()
    RETRY_LATER = auto()
    TIMER = auto()
    RESUBSCRIBE = auto()  # terminated by the notifier, subscribe again at once
    STOP = auto()


S = SubState
I = SubInput  # noqa: E741 (a table alias)
SUB_TABLE: Final[dict[tuple[SubState, SubInput], SubState]] = {
    (S.IDLE, I.START): S.SUBSCRIBING,
    (S.SUBSCRIBING, I.SUCCESS): S.ACTIVE,
    (S.SUBSCRIBING, I.GIVE_UP): S.STOPPED,
    (S.SUBSCRIBING, I.RETRY_LATER): S.WAITING,
    (S.SUBSCRIBING, I.RESUBSCRIBE): S.SUBSCRIBING,
    (S.ACTIVE, I.TIMER): S.SUBSCRIBING,
    (S.ACTIVE, I.GIVE_UP): S.STOPPED,
    (S.ACTIVE, I.RETRY_LATER): S.WAITING,
    (S.ACTIVE, I.RESUBSCRIBE): S.SUBSCRIBING,
    (S.WAITING, I.TIMER): S.SUBSCRIBING,
    **{(state, I.STOP): S.STOPPED for state in SubState},
}


@dataclass
class Subscription:
    """One subscription; see the module docstring."""

    event: str  # "message-summary"
    accept: str  # "application/simple-message-summary"
    uri: SipURI  # the resource (for MWI: the mailbox, by default our own AOR)
    call_id: str
    from_tag: str
    expires: int = 3600
    retry_s: float = DEFAULT_RETRY_S
    state: SubState = SubState.IDLE
    dialog: Dialog | None = None
    key: tuple[str, ...] | None = None  # the SUBSCRIBE client transaction in flight
    timer_at: float | None = None  # refresh (ACTIVE) or retry (WAITING)
    auth_attempts: int = 0
    cseq: int = 0
    notifies: int = 0
    last_status: int = 0
    history: list[SubState] = field(default_factory=list, repr=False)

    def step(self, inp: SubInput) -> bool:
        nxt = SUB_TABLE.get((self.state, inp))
        if nxt is None:
            return False
        self.state = nxt
        self.history.append(nxt)
        if len(self.history) > 32:
            del self.history[:-32]
        return True

    def refresh_delay(self, granted: int) -> float:
        granted = max(0, granted)
        return max(MIN_REFRESH_S, max(granted / 2, granted - 60.0))

    @property
    def active(self) -> bool:
        return self.state is SubState.ACTIVE


def outcome_of(status: int) -> SubInput:
    """What a final failure response to our SUBSCRIBE means for the subscription."""
    if status in GIVE_UP_STATUSES:
        return SubInput.GIVE_UP
    return SubInput.RETRY_LATER


def outcome_of_termination(reason: str, retry_after: str | None) -> SubInput:
    """What a ``Subscription-State: terminated;reason=...`` means (RFC 6665 §4.1.3)."""
    if reason in ("deactivated", "timeout", ""):
        return SubInput.RETRY_LATER if retry_after else SubInput.RESUBSCRIBE
    if reason in ("probation", "giveup"):
        return SubInput.RETRY_LATER
    return SubInput.GIVE_UP
