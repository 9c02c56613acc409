"""Call transfer in the runtime: the pieces of :class:`~ata.runtime.calls.CallManager` that
handle REFERs from the far end and send ours (functions over the manager, kept out of
``calls.py`` by concern).

Theory of operation
-------------------
**We are transferred** (the far end — a PBX, a phone's transfer key — REFERs our call). The
agent has answered 202 and reports :class:`~ata.sip.call.TransferRequested`. Here a
:class:`~ata.runtime.call_lines.CallRecord` for the new leg is made (``transfer_of`` = the old
call), a fresh RTP port bound (the new leg gets its own socket, like every call), and the
agent places the INVITE (``LineAgent.start_transfer_with``); when no RTP port can be bound the
agent tells the transferor 503 (``abandon_transfer``). Until the new leg is connected, its
events (ringing, early media, answer, failure) are kept from the port, which is still talking
on the old call — :func:`leg_event` swallows them. When the agent reports
:class:`~ata.sip.call.CallTransferred`, the old call's record and media are closed and the
port hears :class:`ata.line.port.CallReplaced`: it takes the new call as its current one and
reconnects its audio to the new media leg. If the new leg fails, the old call simply goes on
(or, if the transferor had already hung up, the port hears the deferred ``CallEnded``). If the
phone hangs up while a transfer is pending, the pending leg is hung up too.

**We transfer** (:func:`transfer`, ``CallManager.transfer(call_id, target)``): REFER in the
call's dialog. The port's blind-transfer flow (flash → dial the target → hang up) ends with
the port on-hook, so the call record is marked ``local_end``: whatever the outcome, nothing
is echoed to the port; a failed transfer hangs the call up (the phone is already on-hook).
``TransferProgress`` is logged and counted.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ata.line import port as lp
from ata.runtime import mwi
from ata.runtime.call_lines import CallRecord, LineState
from ata.sip import call as sc
from ata.sip.refer import refer_to_with_replaces, replaces_value
from ata.sip.uri import SipURI

if TYPE_CHECKING:
    from ata.runtime.calls import CallManager

log = logging.getLogger(__name__)


LineEvent = sc.MessageWaiting | sc.CallTransferred | sc.TransferRequested | sc.TransferProgress
LINE_EVENTS = (sc.MessageWaiting, sc.CallTransferred, sc.TransferRequested, sc.TransferProgress)


def line_event(m: CallManager, line: LineState, event: LineEvent) -> None:
    """The agent events that are not about one known call's progress."""
    match event:
        case sc.MessageWaiting():
            mwi.on_message_waiting(m, line, event)
        case sc.CallTransferred():
            on_call_transferred(m, line, event)
        case sc.TransferRequested():
            on_transfer_requested(m, line, event)
        case sc.TransferProgress():
            on_transfer_progress(m, line, event)


def on_transfer_requested(m: CallManager, line: LineState, event: sc.TransferRequested) -> None:
    agent = line.agent
    old = m.calls.get(event.handle)
    if agent is None:
        return
    if old is None or old.ended or old.local_end:
        agent.abandon_transfer(event.new_handle, 481, m.now())
        m._pump(line)
        return
    log.info(
        "port %d: far end transfers call %s to %s%s",
        line.port + 1,
        old.call_id,
        event.target,
        " (attended)" if event.replaces else "",
    )
    m.counters["transfers_in"] = m.counters.get("transfers_in", 0) + 1
    record = CallRecord(
        event.new_handle,
        line.port,
        incoming=False,
        setup_started=m.now(),
        transfer_of=old.call_id,
    )
    m.calls[event.new_handle] = record
    m._spawn(_start_leg(m, line, record))


async def _start_leg(m: CallManager, line: LineState, record: CallRecord) -> None:
    agent = line.agent
    if agent is None:
        return
    try:
        record.media = await m._open_media(line, record)
    except OSError as exc:
        log.warning("port %d: no RTP port for a transfer: %s", line.port + 1, exc)
        m.counters["media_errors"] += 1
        m._finish(record)
        agent.abandon_transfer(record.call_id, 503, m.now())
        m._pump(line)
        return
    old = m.calls.get(record.transfer_of)
    if record.local_end or old is None or old.local_end:  # the phone hung up meanwhile
        m._finish(record)
        agent.abandon_transfer(record.call_id, 487, m.now())
        m._pump(line)
        return
    now = m.now()
    record.setup_started = now
    if agent.start_transfer_with(record.call_id, m._audio(line, record.media), now):
        call = agent.calls[record.call_id]
        record.sip_call_id = call.call_id
        m._track(call.call_id, call.local_tag, line.port)
    m._pump(line)


async def answer_replacing(m: CallManager, line: LineState, record: CallRecord) -> None:
    """An incoming INVITE with Replaces (attended transfer, we are the target): answer it
    with its own RTP port, end the replaced call, move the port over (``CallReplaced``)."""
    agent = line.agent
    if agent is None:
        return
    try:
        record.media = await m._open_media(line, record)
    except OSError as exc:
        log.warning("port %d: no RTP port for a replacing call: %s", line.port + 1, exc)
        m.counters["media_errors"] += 1
        record.local_end = True
        agent.reject(record.call_id, 503, m.now())
        m._pump(line)
        return
    old = m.calls.get(record.transfer_of)
    now = m.now()
    if record.ended or old is None or old.local_end:  # cancelled, or the phone hung up
        if not record.ended:
            record.local_end = True
            agent.reject(record.call_id, 487 if old is not None else 481, now)
        m._pump(line)
        return
    log.info("port %d: call %s replaced by %s", line.port + 1, old.call_id, record.call_id)
    m.counters["replaced"] = m.counters.get("replaced", 0) + 1
    record.answered_at = now
    agent.answer_with(record.call_id, m._audio(line, record.media), now)
    if not agent.complete_replace(record.call_id, now):
        m.hang_up(record.call_id)
    m._pump(line)


def leg_event(m: CallManager, line: LineState, record: CallRecord, event: sc.CallEvent) -> bool:
    """Handle an event of a transfer leg the port does not know yet; False = not such a leg."""
    if not record.transfer_of:
        return False
    match event:
        case sc.CallEarlyMedia(media=media) | sc.MediaUpdate(media=media):
            if record.media is not None:
                record.media.apply(media)
        case sc.CallAnswered():
            m.setup_times.append(m.now() - record.setup_started)
        case sc.CallFailed(status=status, reason=reason):
            log.info("port %d: transfer failed: %d %s", line.port + 1, status, reason)
            m.counters["transfers_failed"] = m.counters.get("transfers_failed", 0) + 1
            m._finish(record)
        case sc.CallEnded():
            m._finish(record)
    return True


def on_call_transferred(m: CallManager, line: LineState, event: sc.CallTransferred) -> None:
    new = m.calls.get(event.new_handle)
    old = m.calls.get(event.old_handle)
    if old is not None:
        old.local_end = True
        m._finish(old)
    if new is None:
        return
    new.transfer_of = ""
    new.port_told = True
    new.answered_at = new.answered_at or m.now()
    log.info("port %d: call %s transferred to %s", line.port + 1, event.old_handle, new.call_id)
    m._tell(line.port, lp.CallReplaced(event.old_handle, event.new_handle))


def hang_up_legs(m: CallManager, call_id: str) -> None:
    """The port hung up ``call_id``: end the transfer legs it was waiting for."""
    for record in list(m.calls.values()):
        if record.transfer_of == call_id and not record.ended:
            record.transfer_of = ""
            m.hang_up(record.call_id)


def transfer(m: CallManager, call_id: str, target: str) -> bool:
    """Blind transfer of ``call_id`` to ``target`` (a number in the line's domain or a SIP
    URI) with REFER; see the module docstring."""
    record = m.calls.get(call_id)
    line = m._line(record.port) if record is not None else None
    if record is None or line is None or line.agent is None:
        return False
    ok = line.agent.transfer(call_id, target, m.now())
    if ok:
        record.local_end = True
        m.counters["transfers_out"] = m.counters.get("transfers_out", 0) + 1
    m._pump(line)
    return ok


def hold(m: CallManager, call_id: str, *, hold: bool) -> None:
    """Put a call on hold (re-INVITE sendonly) or take it off hold (the flash-transfer flow)."""
    record = m.calls.get(call_id)
    line = m._line(record.port) if record is not None else None
    if record is None or line is None or line.agent is None:
        return
    if hold:
        line.agent.hold(call_id, m.now())
    else:
        line.agent.resume(call_id, m.now())
    m._pump(line)


def attended_transfer(m: CallManager, call_id: str, consult_call_id: str) -> bool:
    """Attended transfer: REFER the far end of ``call_id`` to the far end of the consultation
    call ``consult_call_id`` with Replaces (RFC 3891), so the two far ends talk to each other.
    Both our calls end (the target replaces the consultation call); the port hears nothing."""
    record = m.calls.get(call_id)
    consult = m.calls.get(consult_call_id)
    line = m._line(record.port) if record is not None else None
    if record is None or consult is None or line is None or line.agent is None:
        return False
    call = line.agent.calls.get(consult_call_id)
    dialog = call.dialog if call is not None else None
    if call is None or dialog is None or not isinstance(dialog.remote_uri.uri, SipURI):
        return False
    replaces = replaces_value(call.call_id, dialog.id.remote_tag, call.local_tag)
    refer_to = refer_to_with_replaces(dialog.remote_uri.uri, replaces)
    ok = line.agent.transfer(call_id, "", m.now(), replaces=refer_to)
    if ok:
        record.local_end = True
        record.consult = consult_call_id
        consult.local_end = True
        m.counters["transfers_out"] = m.counters.get("transfers_out", 0) + 1
    m._pump(line)
    return ok


def on_transfer_progress(m: CallManager, line: LineState, event: sc.TransferProgress) -> None:
    log.info(
        "port %d: transfer of %s: %d%s",
        line.port + 1,
        event.handle,
        event.status,
        " (final)" if event.final else "",
    )
    if not event.final:
        return
    record = m.calls.get(event.handle)
    if record is None:
        return
    consult = m.calls.get(record.consult) if record.consult else None
    if consult is not None and not consult.ended:
        # attended: the target normally ends the consultation itself (Replaces); a target
        # that does not know Replaces would keep it up — and after a failure the phone is
        # on-hook anyway
        m.hang_up(consult.call_id)
    if event.status >= 300 and record.local_end and not record.ended:
        m.hang_up(event.handle)  # the phone is on-hook: do not leave the far end held
