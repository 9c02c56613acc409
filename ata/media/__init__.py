"""Media core (sans-IO): G.711, RTP/RTCP, RFC 4733 events, jitter buffer and PLC."""
