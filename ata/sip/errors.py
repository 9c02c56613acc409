"""Typed SIP errors: each carries the status a UAS should answer with.

* :class:`SipParseError` — the bytes are not a well-formed SIP message (syntax, framing, a
  mandatory header that cannot be read). ``status`` is what to answer a *request* with (400,
  505, 513, ...); ``is_request`` tells whether the input looked like a request at all (a
  malformed response is dropped silently, never answered). ``headers`` holds whatever raw header
  fields were read before the error, so :func:`ata.sip.message.error_response` can still build
  the 400 when Via/From/To/Call-ID/CSeq were present.
* :class:`SipFramingError` — a stream (TCP/TLS) cannot be framed any more; close the
  connection.
* :class:`SipRequestRejected` — the request parsed but must be refused (416, 420, 501, ...),
  with the extra header fields the answer needs (``Unsupported``, ``Allow``, ``Accept``).
* :class:`HeaderValueError` — a caller tried to build a message with an invalid header name or
  a value carrying CR/LF/NUL (header injection); a programming error, raised as ``ValueError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ata.sip.fields import Headers


class SipError(Exception):
    """Base class of every SIP error; ``status`` is the SIP status to answer with."""

    status: int = 500

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        if status is not None:
            self.status = status


class SipParseError(SipError):
    """Malformed SIP message. Answer a request with ``status`` (if possible); drop responses."""

    status = 400

    def __init__(
        self,
        reason: str,
        status: int = 400,
        *,
        is_request: bool | None = None,
        headers: Headers | None = None,
    ) -> None:
        super().__init__(reason, status)
        self.is_request = is_request
        self.headers = headers

    def __repr__(self) -> str:
        return f"SipParseError(status={self.status}, reason={self.reason!r})"


class SipFramingError(SipParseError):
    """A stream transport lost message framing: answer (if possible) then close the stream."""


class SipRequestRejected(SipError):  # noqa: N818 - a verdict, not a failure
    """A syntactically valid request that must be refused with ``status``.

    ``extra_headers`` are (name, value) pairs the response must carry, e.g.
    ``[("Unsupported", "foo")]`` for 420 or ``[("Allow", "INVITE, ACK, ...")]`` for 405/501.
    """

    def __init__(
        self, status: int, reason: str, extra_headers: list[tuple[str, str]] | None = None
    ) -> None:
        super().__init__(reason, status)
        self.extra_headers = list(extra_headers or [])

    def __repr__(self) -> str:
        return f"SipRequestRejected(status={self.status}, reason={self.reason!r})"


class HeaderValueError(ValueError):
    """Invalid header name or value given to a builder (CR/LF/NUL injection, bad token)."""
