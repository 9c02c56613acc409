"""pytest fixtures that start real peers on loopback (see tests/peers/kamailio.py, baresip.py)."""
