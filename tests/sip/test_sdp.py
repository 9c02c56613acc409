"""SDP parsing/serialization and RFC 3264 offer/answer for audio."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ata.sip.sdp import (
    AudioConfig,
    Direction,
    SdpError,
    SdpNegotiationError,
    make_answer,
    make_offer,
    negotiate_answer,
    parse_sdp,
)

BARESIP_OFFER = (
    b"v=0\r\n"
    b"o=- 1580366307 1580366307 IN IP4 127.0.0.1\r\n"
    b"s=-\r\n"
    b"c=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\n"
    b"a=tool:baresip 1.0.0\r\n"
    b"m=audio 30000 RTP/AVP 9 0 8 101\r\n"
    b"b=AS:64\r\n"
    b"a=rtpmap:9 G722/8000\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-15\r\n"
    b"a=sendrecv\r\n"
    b"a=label:1\r\n"
    b"a=ssrc:123 cname:x\r\n"
    b"a=rtcp-rsize\r\n"
    b"a=ptime:20\r\n"
)

OURS = AudioConfig(address="192.0.2.10", port=40000)


def test_parse_real_offer() -> None:
    sdp = parse_sdp(BARESIP_OFFER)
    assert sdp.origin.session_id == "1580366307"
    assert sdp.connection == "127.0.0.1"
    (audio,) = sdp.media
    assert audio.port == 30000
    assert [c.name for c in audio.codecs()] == ["G722", "PCMU", "PCMA", "telephone-event"]
    assert audio.codecs()[3].fmtp == "0-15"
    assert audio.direction is Direction.SENDRECV
    assert audio.ptime == 20
    assert audio.other_lines == [("b", "AS:64")]


def test_roundtrip_keeps_content() -> None:
    sdp = parse_sdp(BARESIP_OFFER)
    again = parse_sdp(sdp.to_bytes())
    assert again == sdp
    assert sdp.to_bytes() == BARESIP_OFFER


def test_answer_picks_common_codec_in_offer_order_and_echoes_event_pt() -> None:
    answer, result = make_answer(parse_sdp(BARESIP_OFFER), OURS, session_id=5, session_version=1)
    (audio,) = answer.media
    assert audio.formats == ["0", "8", "101"]
    assert audio.port == 40000
    assert answer.connection == "192.0.2.10"
    assert result.codec.name == "PCMU"
    assert result.remote_address == ("127.0.0.1", 30000)
    assert result.telephone_event_pt == 101
    assert result.direction is Direction.SENDRECV
    assert result.ptime == 20
    assert ("fmtp", "101 0-15") in audio.attributes
    # the offerer reads our answer and agrees
    peer = negotiate_answer(parse_sdp(BARESIP_OFFER), parse_sdp(answer.to_bytes()), OURS)
    assert peer.codec.name == "PCMU"
    assert peer.remote_address == ("192.0.2.10", 40000)


def test_offer_contains_g711_events_and_ptime() -> None:
    offer = make_offer(OURS, session_id=1, session_version=2)
    text = offer.to_bytes().decode()
    assert "m=audio 40000 RTP/AVP 0 8 101\r\n" in text
    assert "a=rtpmap:101 telephone-event/8000\r\n" in text
    assert "a=fmtp:101 0-16\r\n" in text
    assert "a=ptime:20\r\n" in text
    assert "a=sendrecv\r\n" in text
    assert "o=pi-ata 1 2 IN IP4 192.0.2.10\r\n" in text
    assert text.startswith("v=0\r\n")


def test_pcma_only_peer() -> None:
    offer = make_offer(
        AudioConfig("10.0.0.1", 5000, codecs=("PCMA",)), session_id=1, session_version=1
    )
    _, result = make_answer(offer, OURS, session_id=2, session_version=1)
    assert result.codec.name == "PCMA"
    assert result.codec.payload_type == 8


@pytest.mark.parametrize(
    ("offered", "answered", "we_send", "we_receive"),
    [
        (Direction.SENDRECV, Direction.SENDRECV, True, True),
        (Direction.SENDONLY, Direction.RECVONLY, False, True),
        (Direction.RECVONLY, Direction.SENDONLY, True, False),
        (Direction.INACTIVE, Direction.INACTIVE, False, False),
    ],
)
def test_direction_reversal(
    offered: Direction, answered: Direction, we_send: bool, we_receive: bool
) -> None:
    offer = make_offer(
        AudioConfig("10.0.0.1", 5000, direction=offered), session_id=1, session_version=1
    )
    answer, result = make_answer(offer, OURS, session_id=2, session_version=1)
    assert answer.media[0].direction is answered
    assert result.direction is answered
    assert (result.remote_address is not None) is we_send
    assert result.direction.receives is we_receive


def test_we_put_the_peer_on_hold() -> None:
    held = make_offer(
        AudioConfig("192.0.2.10", 40000, direction=Direction.SENDONLY),
        session_id=1,
        session_version=2,
    )
    peer = AudioConfig("10.0.0.1", 5000)
    answer, _ = make_answer(held, peer, session_id=9, session_version=1)
    assert answer.media[0].direction is Direction.RECVONLY
    result = negotiate_answer(held, answer, held_cfg := AudioConfig("192.0.2.10", 40000))
    assert held_cfg.port == 40000
    assert result.direction is Direction.SENDONLY


def test_old_style_hold_zero_address() -> None:
    offer = make_offer(
        AudioConfig("10.0.0.1", 5000, direction=Direction.SENDONLY, hold_style_zero_address=True),
        session_id=1,
        session_version=3,
    )
    assert offer.connection == "0.0.0.0"
    # even a plain c=0.0.0.0 with sendrecv (RFC 2543) means: do not send to me
    text = offer.to_bytes().replace(b"a=sendonly", b"a=sendrecv")
    answer, result = make_answer(parse_sdp(text), OURS, session_id=2, session_version=1)
    assert result.remote_address is None
    assert result.remote_rtp is None
    assert result.direction is Direction.RECVONLY
    assert answer.media[0].direction is Direction.RECVONLY


def test_no_common_codec_is_488_and_rejects_extra_streams() -> None:
    g729 = parse_sdp(
        b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
        b"m=audio 5000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n"
    )
    with pytest.raises(SdpNegotiationError) as info:
        make_answer(g729, OURS, session_id=1, session_version=1)
    assert info.value.status == 488
    two = parse_sdp(
        b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
        b"m=video 6000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
        b"m=audio 5000 RTP/AVP 0\r\n"
        b"m=audio 5002 RTP/AVP 8\r\n"
    )
    answer, result = make_answer(two, OURS, session_id=1, session_version=1)
    assert [m.port for m in answer.media] == [0, 40000, 0]
    assert answer.media[0].formats == ["96"]
    assert result.remote_address == ("10.0.0.1", 5000)
    assert result.telephone_event_pt is None
    # SRTP-only offer: not usable audio for us -> 488
    savp = parse_sdp(
        b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
        b"m=audio 5000 RTP/SAVP 0\r\n"
    )
    with pytest.raises(SdpNegotiationError):
        make_answer(savp, OURS, session_id=1, session_version=1)


def test_answer_rejecting_audio_is_488() -> None:
    offer = make_offer(OURS, session_id=1, session_version=1)
    rejected = parse_sdp(
        b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n"
    )
    with pytest.raises(SdpNegotiationError):
        negotiate_answer(offer, rejected, OURS)


def test_media_level_connection_overrides_session() -> None:
    sdp = parse_sdp(
        b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
        b"m=audio 5000 RTP/AVP 0\r\nc=IN IP4 10.9.9.9/127\r\n"
    )
    _, result = make_answer(sdp, OURS, session_id=1, session_version=1)
    assert result.remote_address == ("10.9.9.9", 5000)


def test_ipv6_address() -> None:
    offer = make_offer(AudioConfig("2001:db8::1", 4000), session_id=1, session_version=1)
    text = offer.to_bytes()
    assert b"c=IN IP6 2001:db8::1\r\n" in text
    _, result = make_answer(parse_sdp(text), OURS, session_id=1, session_version=1)
    assert result.remote_address == ("2001:db8::1", 4000)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"v=1\r\n",
        b"v=0\r\ns=-\r\n",  # no o=
        b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 5000 RTP/AVP 4294967296\r\n",
        b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 5000 RTP/AVP 128\r\n",
        b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 99999 RTP/AVP 0\r\n",
        b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 5000 RTP/AVP\r\n",
        b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio -1 RTP/AVP 0\r\n",
        b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\na=fmtp:101 0-15\x00\r\n",
        b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nc=IN IP4\r\n",
        b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ngarbage\r\n",
        b"v=0\r\no=\xff\xfe\r\n",
        b"v=0\r\no=- 1 1\r\n",
        b"v=0\r\n" + b"a=x\r\n" * 600,
        b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\n" + b"a=" + b"x" * 20000 + b"\r\n",
    ],
)
def test_malformed_sdp_raises_typed_error(data: bytes) -> None:
    with pytest.raises(SdpError) as info:
        parse_sdp(data)
    assert info.value.status == 400


def test_audio_without_connection_is_a_typed_error() -> None:
    sdp = parse_sdp(b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n")
    with pytest.raises(SdpError):
        make_answer(sdp, OURS, session_id=1, session_version=1)


def test_odd_rtpmaps_are_ignored_not_fatal() -> None:
    sdp = parse_sdp(
        b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nc=IN IP4 1.2.3.4\r\n"
        b"m=audio 5000 RTP/AVP 0 96 97\r\n"
        b"a=rtpmap:96 opus/notanumber\r\na=rtpmap:97\r\na=rtpmap:4294967296 x/8000\r\n"
        b"a=fmtp:99999999999999 x\r\na=ptime:abc\r\n"
    )
    assert [c.name for c in sdp.media[0].codecs()] == ["PCMU"]
    assert sdp.media[0].ptime is None
    _, result = make_answer(sdp, OURS, session_id=1, session_version=1)
    assert result.ptime == 20


@settings(max_examples=300)
@given(st.binary(max_size=600))
def test_random_bytes_never_crash(data: bytes) -> None:
    try:
        sdp = parse_sdp(b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\n" + data)
    except SdpError:
        return
    with contextlib.suppress(SdpError, SdpNegotiationError):
        make_answer(sdp, OURS, session_id=1, session_version=1)


_LINE = st.sampled_from(
    [
        "c=IN IP4 10.0.0.1",
        "c=IN IP6 ::1",
        "c=IN IP4 0.0.0.0",
        "m=audio 5000 RTP/AVP 0 8 101",
        "m=audio 0 RTP/AVP 0",
        "m=video 6000 RTP/AVP 96",
        "m=audio 7000 RTP/SAVP 0",
        "m=image 8000 udptl t38",
        "a=rtpmap:101 telephone-event/8000",
        "a=rtpmap:96 H264/90000",
        "a=fmtp:101 0-16",
        "a=sendonly",
        "a=recvonly",
        "a=inactive",
        "a=sendrecv",
        "a=ptime:30",
        "b=AS:64",
        "i=info",
    ]
)


@settings(max_examples=300)
@given(st.lists(_LINE, max_size=14))
def test_structured_sdp_roundtrip_and_answer_properties(lines: list[str]) -> None:
    text = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n" + "".join(f"{x}\r\n" for x in lines)
    sdp = parse_sdp(text)
    again = parse_sdp(sdp.to_bytes())
    # serialization puts lines in RFC 4566 order: content is kept, and the form is stable
    assert again.attributes == sdp.attributes
    assert again.connection == sdp.connection
    assert sorted(again.other_lines) == sorted(sdp.other_lines)
    assert [(m.port, m.formats, m.attributes, m.connection) for m in again.media] == [
        (m.port, m.formats, m.attributes, m.connection) for m in sdp.media
    ]
    assert parse_sdp(again.to_bytes()) == again
    try:
        answer, result = make_answer(sdp, OURS, session_id=1, session_version=1)
    except (SdpError, SdpNegotiationError):
        return
    assert len(answer.media) == len(sdp.media)
    assert sum(1 for m in answer.media if m.port != 0) == 1
    assert result.codec.name in ("PCMU", "PCMA")
    if result.remote_address is not None:
        assert result.direction.sends
    reparsed = parse_sdp(answer.to_bytes())
    back = negotiate_answer(sdp, reparsed, OURS)
    assert back.codec.name == result.codec.name
