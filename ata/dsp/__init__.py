"""Telephony DSP (pure, frame based, 8 kHz): DTMF, tones, caller ID, echo cancellation."""
