"""The call log follows transfers: a call the far end transferred keeps its record under the
new call's name (and closes when that ends); a call the phone transferred closes as such."""

from __future__ import annotations

from ata.line import port as lp
from ata.runtime.calllog import CallLog


def test_replaced_call_keeps_one_record() -> None:
    log = CallLog()
    log.observe(0, lp.PlaceCall("port0-1", "1002"), 0.0)
    log.observe(0, lp.CallAnswered("port0-1"), 1.0)
    log.observe(0, lp.CallReplaced("port0-1", "xfer-1"), 2.0)
    assert log.recent(5)[0]["result"] == "in progress"
    log.observe(0, lp.HangUp("xfer-1"), 3.0)
    (entry,) = log.recent(5)
    assert entry["result"] == "answered" and entry["number"] == "1002"
    log.attach_rtp("xfer-1", {"packets_sent": 10})
    assert log.recent(5)[0]["rtp"] == {"packets_sent": 10}


def test_phone_transfer_closes_the_record() -> None:
    log = CallLog()
    log.observe(0, lp.PlaceCall("port0-1", "1002"), 0.0)
    log.observe(0, lp.CallAnswered("port0-1"), 1.0)
    log.observe(0, lp.TransferCall("port0-1", "1003"), 5.0)
    assert log.recent(5)[0]["result"] == "transferred to 1003"
    log.observe(0, lp.HangUp("port0-1"), 6.0)  # nothing left open to close
    assert log.recent(5)[0]["result"] == "transferred to 1003"
