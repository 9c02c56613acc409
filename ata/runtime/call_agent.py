"""The per-line SIP user agent as the call manager uses it: :class:`ata.sip.ua.UserAgent`
plus per-call RTP addresses, SIP INFO DTMF and an X-RTP-Stat header on our BYE.

Theory of operation
-------------------
:class:`~ata.sip.ua.UserAgent` offers and answers with one :class:`~ata.sip.sdp.AudioConfig`
per line. pi-ata binds a fresh RTP port per call (so a second call on a line, or a call right
after another, never shares a socket), so :class:`LineAgent` keeps each call's audio
configuration in ``call.extra["audio"]``: :meth:`LineAgent.place_call_with` and
:meth:`LineAgent.answer_with` install it for the offer/answer they write, and every later
exchange in the call (re-INVITE answers, hold offers) uses it through ``_local_audio``.

Everything stays sans-IO: the driver (:mod:`ata.runtime.calls`) passes ``now`` in and sends
what ``datagrams_to_send()`` returns.
"""

from __future__ import annotations

from dataclasses import replace

from ata.sip.call import Call, CallState
from ata.sip.dialog import Dialog
from ata.sip.sdp import AudioConfig, Direction
from ata.sip.ua import UserAgent
from ata.sip.ua_support import local_via

AUDIO_KEY = "audio"
BYE_HEADERS_KEY = "bye_headers"


class LineAgent(UserAgent):
    """A :class:`UserAgent` with per-call audio (see the module docstring)."""

    def place_call_with(self, handle: str, number: str, audio: AudioConfig, now: float) -> bool:
        """Place a call offering ``audio``; False when the UA refused at once."""
        self._audio = audio
        self.place_call(handle, number, now)
        call = self.calls.get(handle)
        if call is None:
            return False
        call.extra[AUDIO_KEY] = audio
        return True

    def start_transfer_with(self, new_handle: str, audio: AudioConfig, now: float) -> bool:
        """Place the new call of a transfer we were asked for, offering ``audio``."""
        self._audio = audio
        ok = self.start_transfer(new_handle, now)
        call = self.calls.get(new_handle)
        if call is not None:
            call.extra[AUDIO_KEY] = audio
        return ok

    def answer_with(self, handle: str, audio: AudioConfig, now: float) -> bool:
        """Answer an incoming call with ``audio`` (488 and False when no codec is common)."""
        call = self.calls.get(handle)
        if call is None:
            return False
        self._audio = audio
        call.extra[AUDIO_KEY] = audio
        return self.answer(handle, now)

    def set_bye_headers(self, handle: str, headers: list[tuple[str, object]]) -> None:
        """Extra headers for the BYE this call will send (e.g. X-RTP-Stat)."""
        call = self.calls.get(handle)
        if call is not None:
            call.extra[BYE_HEADERS_KEY] = headers

    def send_info_dtmf(self, handle: str, key: str, duration_ms: int, now: float) -> bool:
        """RFC-less but universal ``application/dtmf-relay`` INFO (Cisco style)."""
        call = self.calls.get(handle)
        if call is None or call.state is not CallState.CONNECTED or call.dialog is None:
            return False
        body = f"Signal={key}\r\nDuration={duration_ms}\r\n".encode("ascii")
        req = call.dialog.create_request(
            "INFO",
            local_via(self.config),
            headers=[("Content-Type", "application/dtmf-relay")],
            body=body,
        )
        self._send_in_dialog(call, call.dialog, req, "info", now)
        return True

    def call_state(self, handle: str) -> CallState | None:
        call = self.calls.get(handle)
        return None if call is None else call.state

    # -- overrides ----------------------------------------------------------------------------

    def _local_audio(self, call: Call) -> AudioConfig:
        audio = call.extra.get(AUDIO_KEY)
        base = audio if isinstance(audio, AudioConfig) else self._audio
        if call.held_local:
            return replace(base, direction=Direction.SENDONLY)
        return base

    def _send_bye_dialog(self, call: Call, dialog: Dialog, now: float, purpose: str) -> None:
        extra = call.extra.get(BYE_HEADERS_KEY)
        if not isinstance(extra, list) or not extra:
            super()._send_bye_dialog(call, dialog, now, purpose)
            return
        bye = dialog.create_request("BYE", local_via(self.config), headers=list(extra))
        self._send_in_dialog(call, dialog, bye, purpose, now)
