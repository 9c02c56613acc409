"""SIP user agent core (sans-IO): messages, transactions, dialogs, registration, SDP."""
