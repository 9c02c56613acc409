"""The call log: one record per call attempt, built from what the ports see and do.

Each :class:`ata.runtime.port_driver.PortDriver` reports every event it handles and every
command it issues to :meth:`CallLog.observe`. A record opens on ``PlaceCall`` (outgoing) or
``IncomingCall``, notes the answer, and closes on the end, failure, rejection or hang-up with a
result (answered, missed, busy, rejected, failed: STATUS REASON). The newest
``capacity`` records are kept in memory (the web admin and the API show them).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from ata.line import port as lp


@dataclass
class CallRecord:
    time: float  # Unix time the call started
    port: int  # 1-based
    direction: str  # "in" | "out"
    number: str
    name: str
    call_id: str
    answered_at: float | None = None
    duration_s: float = 0.0
    result: str = "in progress"
    rtp: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["call_id"], data["answered_at"]
        return data


class CallLog:
    def __init__(self, capacity: int = 200) -> None:
        self._records: deque[CallRecord] = deque(maxlen=capacity)
        self._open: dict[str, CallRecord] = {}

    def observe(self, port: int, item: lp.Event | lp.Command, _at: float) -> None:
        now = time.time()
        match item:
            case lp.PlaceCall(call_id=call_id, number=number):
                self._start(CallRecord(now, port + 1, "out", number, "", call_id))
            case lp.IncomingCall(call_id=call_id, number=number, name=name):
                self._start(CallRecord(now, port + 1, "in", number, name, call_id))
            case lp.CallAnswered(call_id=call_id) | lp.AnswerCall(call_id=call_id):
                record = self._open.get(call_id)
                if record is not None and record.answered_at is None:
                    record.answered_at = now
            case lp.CallFailed(call_id=call_id, status=status, reason=reason):
                result = "busy" if status in (486, 600) else f"failed: {status} {reason}".strip()
                self._close(call_id, now, result)
            case lp.RejectCall(call_id=call_id, status=status):
                self._close(call_id, now, "missed" if status == 480 else f"rejected: {status}")
            case lp.CallEnded(call_id=call_id) | lp.HangUp(call_id=call_id):
                self._close(call_id, now, None)
            case lp.CallReplaced(old_call_id=old, new_call_id=new):
                record = self._open.pop(old, None)  # the far end transferred us: same record
                if record is not None:
                    record.call_id = new
                    self._open[new] = record
            case lp.TransferCall(call_id=call_id, target=target):
                self._close(call_id, now, f"transferred to {target}")
            case _:
                pass

    def _start(self, record: CallRecord) -> None:
        self._open[record.call_id] = record
        self._records.append(record)

    def _close(self, call_id: str, now: float, result: str | None) -> None:
        record = self._open.pop(call_id, None)
        if record is None:
            return
        if record.answered_at is not None:
            record.duration_s = round(now - record.answered_at, 1)
        if result is None:
            answered = record.answered_at is not None
            result = (
                "answered" if answered else ("missed" if record.direction == "in" else "cancelled")
            )
        record.result = result

    def attach_rtp(self, call_id: str, summary: dict[str, Any]) -> None:
        for record in reversed(self._records):
            if record.call_id == call_id:
                record.rtp = summary
                return

    def recent(self, limit: int) -> list[dict[str, Any]]:
        """The last ``limit`` records, newest first."""
        return [r.as_dict() for r in list(self._records)[::-1][:limit]]
