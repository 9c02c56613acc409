"""Suite-wide fixtures. Peer fixtures (Kamailio, baresip) live in tests/peers/."""

from __future__ import annotations

pytest_plugins = ["tests.peers.fixtures"]
