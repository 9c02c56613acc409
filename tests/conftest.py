"""Suite-wide fixtures and settings. Peer fixtures (Kamailio, baresip) live in tests/peers/.

Hypothesis: on a developer machine every run explores new random examples (that is how the
0x00-at-end-of-burst FSK bug was found); in CI (``CI`` set) the examples are derived from each
test's name, so a red CI run is reproducible and never a matter of luck, and no deadline is
enforced (a loaded 2-core runner must not turn slowness into failures).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

pytest_plugins = ["tests.peers.fixtures"]

settings.register_profile("dev", deadline=None)
settings.register_profile(
    "ci", deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
