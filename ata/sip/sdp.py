"""SDP (RFC 4566) parsing/serialization and RFC 3264 offer/answer for one audio stream.

Theory of operation
-------------------
:func:`parse_sdp` turns a body into a :class:`SessionDescription` (session fields plus a list
of :class:`MediaDescription`). Anything malformed — non-UTF-8, NUL bytes, a line that is not
``<letter>=<value>``, a missing ``v=``/``o=``, a port or RTP payload type out of range (e.g. the
format ``4294967296`` that crashed pjsip), oversized input — raises :class:`SdpError` (answer
400). Sizes are bounded (:data:`MAX_SDP_SIZE`, :data:`MAX_MEDIA`, :data:`MAX_LINES`), so no
input allocates unboundedly. ``to_bytes()`` writes the fields back in RFC 4566 order.

Offer/answer for the ATA's only media (audio over RTP/AVP, G.711 plus RFC 4733 events):

* :func:`make_offer` builds an offer from :class:`AudioConfig` (codecs in preference order,
  ``telephone-event/8000`` with ``fmtp 0-16``, ``ptime``, a direction for hold).
* :func:`make_answer` answers an offer: the first acceptable audio stream gets the codecs we
  share (in the offerer's order), its telephone-event payload type, and the reversed direction
  (sendonly→recvonly, ...); every other stream is rejected with port 0 (§6). Old-style hold
  (``c=0.0.0.0``) counts as the offerer not wanting to receive. No common codec raises
  :class:`SdpNegotiationError` (status 488).
* :func:`negotiate_answer` reads the peer's answer to our offer.

Both return a :class:`NegotiatedAudio`: where to send RTP (``None`` while we must not send),
the codec, the telephone-event payload type, ptime and the local direction — what the media
layer needs.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass, field, replace
from typing import Final

from ata.sip.errors import SipError

MAX_SDP_SIZE: Final = 16384
MAX_LINES: Final = 512
MAX_MEDIA: Final = 16
MAX_FORMATS: Final = 64


class SdpError(SipError):
    """Malformed SDP: answer the request with ``status`` (400)."""

    status = 400


class SdpNegotiationError(SipError):
    """Well-formed SDP we cannot accept (no common codec, no audio): answer 488."""

    status = 488


class Direction(enum.Enum):
    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"

    @property
    def sends(self) -> bool:
        return self in (Direction.SENDRECV, Direction.SENDONLY)

    @property
    def receives(self) -> bool:
        return self in (Direction.SENDRECV, Direction.RECVONLY)

    def reversed(self) -> Direction:
        return _REVERSED[self]

    def intersect(self, other: Direction) -> Direction:
        """Directions allowed by both (from the same side's point of view)."""
        return _direction(self.sends and other.sends, self.receives and other.receives)


def _direction(sends: bool, receives: bool) -> Direction:
    if sends and receives:
        return Direction.SENDRECV
    if sends:
        return Direction.SENDONLY
    if receives:
        return Direction.RECVONLY
    return Direction.INACTIVE


_REVERSED: Final = {
    Direction.SENDRECV: Direction.SENDRECV,
    Direction.SENDONLY: Direction.RECVONLY,
    Direction.RECVONLY: Direction.SENDONLY,
    Direction.INACTIVE: Direction.INACTIVE,
}
_DIRECTIONS: Final = {d.value: d for d in Direction}


@dataclass(frozen=True)
class Codec:
    payload_type: int
    name: str
    clock_rate: int = 8000
    channels: int = 1
    fmtp: str | None = None

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.name.lower(), self.clock_rate, self.channels)

    def rtpmap(self) -> str:
        suffix = f"/{self.channels}" if self.channels != 1 else ""
        return f"{self.payload_type} {self.name}/{self.clock_rate}{suffix}"


STATIC_CODECS: Final[dict[int, Codec]] = {
    0: Codec(0, "PCMU"),
    3: Codec(3, "GSM"),
    4: Codec(4, "G723"),
    8: Codec(8, "PCMA"),
    9: Codec(9, "G722"),
    18: Codec(18, "G729"),
}
SUPPORTED_AUDIO: Final = ("PCMU", "PCMA")
TELEPHONE_EVENT: Final = "telephone-event"


@dataclass(frozen=True)
class Origin:
    username: str = "-"
    session_id: str = "0"
    session_version: str = "0"
    nettype: str = "IN"
    addrtype: str = "IP4"
    address: str = "0.0.0.0"  # noqa: S104 - an SDP field value, not a bind address

    def __str__(self) -> str:
        return (
            f"{self.username} {self.session_id} {self.session_version} "
            f"{self.nettype} {self.addrtype} {self.address}"
        )


@dataclass
class MediaDescription:
    media: str
    port: int
    proto: str
    formats: list[str]
    port_count: int | None = None
    connection: str | None = None  # the address of c=, None when absent at media level
    connection_type: str = "IP4"
    attributes: list[tuple[str, str | None]] = field(default_factory=list)
    other_lines: list[tuple[str, str]] = field(default_factory=list)  # i=, b=, k= kept verbatim

    def attribute(self, name: str) -> str | None:
        for key, value in self.attributes:
            if key == name:
                return value if value is not None else ""
        return None

    def attribute_values(self, name: str) -> list[str]:
        return [value or "" for key, value in self.attributes if key == name]

    @property
    def direction(self) -> Direction | None:
        """The media-level direction attribute, or None when absent."""
        for key, value in self.attributes:
            if value is None and key in _DIRECTIONS:
                return _DIRECTIONS[key]
        return None

    @property
    def ptime(self) -> int | None:
        value = self.attribute("ptime")
        if value is None:
            return None
        try:
            ptime = int(value)
        except ValueError:
            return None
        return ptime if 0 < ptime <= 1000 else None

    def codecs(self) -> list[Codec]:
        """The RTP formats as codecs (static table or ``a=rtpmap``), with ``a=fmtp``."""
        if not self.proto.upper().startswith("RTP/"):
            return []
        maps: dict[int, Codec] = {}
        fmtps: dict[int, str] = {}
        for value in self.attribute_values("rtpmap"):
            codec = _parse_rtpmap(value)
            if codec is not None:
                maps.setdefault(codec.payload_type, codec)
        for value in self.attribute_values("fmtp"):
            pt_text, _, params = value.partition(" ")
            if pt_text.isdigit() and len(pt_text) <= 3:
                fmtps.setdefault(int(pt_text), params.strip())
        found = []
        for fmt in self.formats:
            pt = int(fmt)
            codec = maps.get(pt) or STATIC_CODECS.get(pt)
            if codec is None:
                continue
            found.append(replace(codec, fmtp=fmtps.get(pt)))
        return found


def _parse_rtpmap(value: str) -> Codec | None:
    pt_text, _, encoding = value.partition(" ")
    if not pt_text.isdigit() or len(pt_text) > 3 or int(pt_text) > 127:
        return None
    parts = encoding.strip().split("/")
    if len(parts) not in (2, 3) or not parts[0]:
        return None
    try:
        rate = int(parts[1])
        channels = int(parts[2]) if len(parts) == 3 else 1
    except ValueError:
        return None
    if not 0 < rate <= 1_000_000 or not 0 < channels <= 16:
        return None
    return Codec(int(pt_text), parts[0], rate, channels)


@dataclass
class SessionDescription:
    origin: Origin = field(default_factory=Origin)
    session_name: str = "-"
    connection: str | None = None
    connection_type: str = "IP4"
    timing: str = "0 0"
    attributes: list[tuple[str, str | None]] = field(default_factory=list)
    media: list[MediaDescription] = field(default_factory=list)
    other_lines: list[tuple[str, str]] = field(default_factory=list)

    @property
    def direction(self) -> Direction | None:
        for key, value in self.attributes:
            if value is None and key in _DIRECTIONS:
                return _DIRECTIONS[key]
        return None

    def to_bytes(self) -> bytes:
        lines = ["v=0", f"o={self.origin}", f"s={self.session_name}"]
        lines += [f"{k}={v}" for k, v in self.other_lines if k in "iuep"]
        if self.connection is not None:
            lines.append(f"c=IN {self.connection_type} {self.connection}")
        lines += [f"{k}={v}" for k, v in self.other_lines if k == "b"]
        lines.append(f"t={self.timing}")
        lines += [f"{k}={v}" for k, v in self.other_lines if k not in "iuepb"]
        lines += [_attr_line(k, v) for k, v in self.attributes]
        for m in self.media:
            ports = f"{m.port}/{m.port_count}" if m.port_count is not None else str(m.port)
            lines.append(f"m={m.media} {ports} {m.proto} {' '.join(m.formats)}")
            lines += [f"{k}={v}" for k, v in m.other_lines if k == "i"]
            if m.connection is not None:
                lines.append(f"c=IN {m.connection_type} {m.connection}")
            lines += [f"{k}={v}" for k, v in m.other_lines if k != "i"]
            lines += [_attr_line(k, v) for k, v in m.attributes]
        return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _attr_line(name: str, value: str | None) -> str:
    return f"a={name}" if value is None else f"a={name}:{value}"


# ---------------------------------------------------------------------------------------------
# Parsing


def _parse_connection(value: str) -> tuple[str, str]:
    parts = value.split()
    if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        raise SdpError(f"bad c= line {value[:60]!r}")
    address = parts[2].split("/", 1)[0]
    if not address:
        raise SdpError("empty connection address")
    return parts[1], address


def _parse_origin(value: str) -> Origin:
    parts = value.split()
    if len(parts) != 6:
        raise SdpError("bad o= line")
    return Origin(*parts)


def _parse_port(text: str) -> tuple[int, int | None]:
    port_text, slash, count_text = text.partition("/")
    if not port_text.isdigit() or len(port_text) > 5 or int(port_text) > 65535:
        raise SdpError(f"bad media port {text[:20]!r}")
    count = None
    if slash:
        if not count_text.isdigit() or len(count_text) > 3 or int(count_text) == 0:
            raise SdpError("bad port count")
        count = int(count_text)
    return int(port_text), count


def _parse_media(value: str) -> MediaDescription:
    parts = value.split()
    if len(parts) < 4:
        raise SdpError("m= line needs media, port, proto and a format")
    media, port_text, proto = parts[0], parts[1], parts[2]
    formats = parts[3:]
    if len(formats) > MAX_FORMATS:
        raise SdpError("too many formats in m= line")
    port, count = _parse_port(port_text)
    if proto.upper().startswith("RTP/"):
        for fmt in formats:
            if not fmt.isdigit() or len(fmt) > 3 or int(fmt) > 127:
                raise SdpError(f"RTP payload type out of range: {fmt[:20]!r}")
    return MediaDescription(media, port, proto, formats, count)


def _decode(data: bytes | str) -> str:
    if isinstance(data, bytes):
        if len(data) > MAX_SDP_SIZE:
            raise SdpError("SDP too large", 413 if len(data) > 65535 else 400)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SdpError("SDP is not UTF-8") from exc
    else:
        text = data
        if len(text) > MAX_SDP_SIZE:
            raise SdpError("SDP too large")
    if "\x00" in text:
        raise SdpError("NUL byte in SDP")
    return text


def parse_sdp(data: bytes | str) -> SessionDescription:
    """Parse an SDP body; raises :class:`SdpError` on anything malformed (never crashes)."""
    text = _decode(data)
    lines = [line.rstrip("\r") for line in text.split("\n")]
    while lines and lines[-1] == "":
        lines.pop()
    if len(lines) > MAX_LINES:
        raise SdpError("too many SDP lines")
    if not lines or lines[0].strip() != "v=0":
        raise SdpError("SDP must start with v=0")
    session = SessionDescription()
    seen_origin = False
    current: MediaDescription | None = None
    for line in lines[1:]:
        if len(line) < 2 or line[1] != "=" or not ("a" <= line[0] <= "z"):
            raise SdpError(f"malformed SDP line {line[:40]!r}")
        kind, value = line[0], line[2:]
        if kind == "m":
            if len(session.media) >= MAX_MEDIA:
                raise SdpError("too many media streams")
            current = _parse_media(value)
            session.media.append(current)
        elif kind == "a":
            name, colon, attr_value = value.partition(":")
            if not name:
                raise SdpError("empty attribute name")
            attr = (name, attr_value if colon else None)
            (current.attributes if current is not None else session.attributes).append(attr)
        elif kind == "c":
            addrtype, address = _parse_connection(value)
            if current is not None:
                current.connection_type, current.connection = addrtype, address
            else:
                session.connection_type, session.connection = addrtype, address
        elif current is not None:
            current.other_lines.append((kind, value))
        elif kind == "o":
            session.origin = _parse_origin(value)
            seen_origin = True
        elif kind == "s":
            session.session_name = value or "-"
        elif kind == "t":
            session.timing = value.strip() or "0 0"
        elif kind == "v":
            raise SdpError("duplicate v= line")
        else:
            session.other_lines.append((kind, value))
    if not seen_origin:
        raise SdpError("SDP without o= line")
    return session


# ---------------------------------------------------------------------------------------------
# Offer / answer


@dataclass(frozen=True)
class AudioConfig:
    """What we offer or accept: our RTP address, codec preference, DTMF events, ptime."""

    address: str
    port: int
    codecs: tuple[str, ...] = SUPPORTED_AUDIO
    telephone_event_pt: int | None = 101
    telephone_events: str = "0-16"
    ptime: int = 20
    direction: Direction = Direction.SENDRECV
    hold_style_zero_address: bool = False  # RFC 2543 hold: c=0.0.0.0 instead of a=sendonly


@dataclass(frozen=True)
class NegotiatedAudio:
    """The result of an offer/answer exchange, from our point of view."""

    codec: Codec
    remote_address: tuple[str, int] | None  # None: do not send (hold, inactive, recvonly)
    remote_rtp: tuple[str, int] | None  # where the peer's RTP is, even when we must not send
    telephone_event_pt: int | None
    ptime: int
    direction: Direction  # what we may do: SENDONLY = we send, they don't

    @property
    def on_hold_by_remote(self) -> bool:
        return not self.direction.receives


def _addr_type(address: str) -> str:
    try:
        return "IP6" if ipaddress.ip_address(address).version == 6 else "IP4"
    except ValueError:
        return "IP4"


def _codec_attributes(codecs: list[Codec], config: AudioConfig) -> list[tuple[str, str | None]]:
    attrs: list[tuple[str, str | None]] = []
    for codec in codecs:
        attrs.append(("rtpmap", codec.rtpmap()))
        if codec.fmtp:
            attrs.append(("fmtp", f"{codec.payload_type} {codec.fmtp}"))
    attrs.append(("ptime", str(config.ptime)))
    return attrs


def _offer_codecs(config: AudioConfig) -> list[Codec]:
    by_name = {c.name.upper(): c for c in STATIC_CODECS.values()}
    codecs = [by_name[name.upper()] for name in config.codecs if name.upper() in by_name]
    if not codecs:
        raise ValueError("AudioConfig needs at least one known codec")
    if config.telephone_event_pt is not None:
        codecs.append(
            Codec(config.telephone_event_pt, TELEPHONE_EVENT, 8000, 1, config.telephone_events)
        )
    return codecs


def make_offer(
    config: AudioConfig, *, session_id: int, session_version: int, username: str = "pi-ata"
) -> SessionDescription:
    """An offer with one audio stream (``config.direction`` for hold)."""
    codecs = _offer_codecs(config)
    address = config.address
    direction = config.direction
    if config.hold_style_zero_address and not direction.receives:
        address = "0.0.0.0"  # noqa: S104 - RFC 2543 hold marker in SDP
    attrs = _codec_attributes(codecs, config)
    attrs.append((direction.value, None))
    media = MediaDescription(
        "audio",
        config.port,
        "RTP/AVP",
        [str(c.payload_type) for c in codecs],
        attributes=attrs,
    )
    addrtype = _addr_type(config.address)
    return SessionDescription(
        origin=Origin(
            username, str(session_id), str(session_version), "IN", addrtype, config.address
        ),
        session_name="pi-ata",
        connection=address,
        connection_type=addrtype,
        media=[media],
    )


def _stream_address(session: SessionDescription, media: MediaDescription) -> str | None:
    return media.connection if media.connection is not None else session.connection


def _is_zero_address(address: str | None) -> bool:
    return address in ("0.0.0.0", "::")  # noqa: S104 - SDP hold marker


def _effective_direction(session: SessionDescription, media: MediaDescription) -> Direction:
    """The sender's declared direction, with RFC 2543 c=0.0.0.0 meaning 'do not send to me'."""
    direction = media.direction or session.direction or Direction.SENDRECV
    if _is_zero_address(_stream_address(session, media)):
        direction = direction.intersect(Direction.SENDONLY)
    return direction


def _usable_audio(media: MediaDescription) -> bool:
    return (
        media.media == "audio"
        and media.port != 0
        and media.proto.upper() in ("RTP/AVP", "RTP/AVPF")
    )


def _telephone_event(codecs: list[Codec]) -> Codec | None:
    for codec in codecs:
        if codec.name.lower() == TELEPHONE_EVENT and codec.clock_rate == 8000:
            return codec
    return None


def make_answer(
    offer: SessionDescription,
    config: AudioConfig,
    *,
    session_id: int,
    session_version: int,
    username: str = "pi-ata",
) -> tuple[SessionDescription, NegotiatedAudio]:
    """Answer ``offer``; raises :class:`SdpNegotiationError` (488) when no audio is possible."""
    wanted = {name.upper() for name in config.codecs}
    answer_media: list[MediaDescription] = []
    result: NegotiatedAudio | None = None
    addrtype = _addr_type(config.address)
    for media in offer.media:
        common: list[Codec] = []
        remote: str | None = None
        if result is None and _usable_audio(media):
            offered = media.codecs()
            common = [c for c in offered if c.name.upper() in wanted and c.clock_rate == 8000]
            remote = _stream_address(offer, media)
            if remote is None:
                raise SdpError("audio stream without connection address")
        if not common or remote is None:
            rejected = MediaDescription(media.media, 0, media.proto, media.formats[:1])
            answer_media.append(rejected)
            continue
        event = _telephone_event(media.codecs()) if config.telephone_event_pt is not None else None
        offered_dir = _effective_direction(offer, media)
        our_dir = offered_dir.reversed().intersect(config.direction)
        codecs = [*common, *([event] if event else [])]
        attrs = _codec_attributes(codecs, replace(config, ptime=media.ptime or config.ptime))
        attrs.append((our_dir.value, None))
        answer_media.append(
            MediaDescription(
                "audio",
                config.port,
                media.proto,
                [str(c.payload_type) for c in codecs],
                attributes=attrs,
            )
        )
        remote_rtp = None if _is_zero_address(remote) else (remote, media.port)
        result = NegotiatedAudio(
            codec=common[0],
            remote_address=remote_rtp if our_dir.sends else None,
            remote_rtp=remote_rtp,
            telephone_event_pt=event.payload_type if event else None,
            ptime=media.ptime or config.ptime,
            direction=our_dir,
        )
    if result is None:
        raise SdpNegotiationError("no common audio codec", 488)
    answer = SessionDescription(
        origin=Origin(
            username, str(session_id), str(session_version), "IN", addrtype, config.address
        ),
        session_name="pi-ata",
        connection=config.address,
        connection_type=addrtype,
        media=answer_media,
    )
    return answer, result


def negotiate_answer(
    offer: SessionDescription, answer: SessionDescription, config: AudioConfig
) -> NegotiatedAudio:
    """Read the peer's ``answer`` to our ``offer``; 488-class error when audio was refused."""
    if len(answer.media) != len(offer.media):
        raise SdpError("answer has a different number of m= lines than the offer")
    for ours, theirs in zip(offer.media, answer.media, strict=True):
        if ours.media != "audio" or theirs.port == 0:
            continue
        ours_by_pt = {c.payload_type: c for c in ours.codecs()}
        codecs = [c for c in theirs.codecs() if c.name.upper() in SUPPORTED_AUDIO]
        if not codecs:
            continue
        codec = ours_by_pt.get(codecs[0].payload_type, codecs[0])
        event = _telephone_event(theirs.codecs())
        remote = _stream_address(answer, theirs)
        if remote is None:
            raise SdpError("audio answer without connection address")
        their_dir = _effective_direction(answer, theirs)
        our_dir = their_dir.reversed().intersect(ours.direction or config.direction)
        remote_rtp = None if _is_zero_address(remote) else (remote, theirs.port)
        return NegotiatedAudio(
            codec=replace(codec, fmtp=None),
            remote_address=remote_rtp if our_dir.sends else None,
            remote_rtp=remote_rtp,
            telephone_event_pt=event.payload_type if event else None,
            ptime=theirs.ptime or ours.ptime or config.ptime,
            direction=our_dir,
        )
    raise SdpNegotiationError("answer accepted no audio stream", 488)
