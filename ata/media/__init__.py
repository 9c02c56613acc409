"""Media core (sans-IO): G.711, RTP/RTCP, RFC 4733 events, jitter buffer and PLC.

Modules: ``g711`` (companding tables), ``rtp`` (packets), ``source`` (RFC 3550 A.1 receive
state), ``rtcp`` (SR/RR/SDES/BYE, interval), ``dtmf`` (RFC 4733), ``cn`` (RFC 3389),
``plc`` (G.711 Appendix I style concealment), ``jitter`` (pull-based jitter buffer),
``latch`` (symmetric RTP latching), ``session`` (:class:`~ata.media.session.MediaSession`,
one call), ``events`` (what a session reports). The asyncio driver is
``ata.runtime.rtp_session``.
"""
