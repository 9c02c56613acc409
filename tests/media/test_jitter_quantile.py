"""The jitter buffer's partition-based quantile equals numpy's linear-interpolation quantile."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ata.media.jitter import quantile


@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=600),
    st.sampled_from([0.0, 0.5, 0.95, 0.99, 1.0]),
)
def test_matches_numpy_quantile(values: list[float], q: float) -> None:
    a = np.array(values, dtype=np.float64)
    assert quantile(a, q) == pytest.approx(float(np.quantile(a, q)), rel=1e-12, abs=1e-9)


def test_no_values_is_an_error() -> None:
    with pytest.raises(ValueError):
        quantile(np.zeros(0), 0.5)


def test_the_jitter_buffer_never_loads_numpy_ma() -> None:
    code = (
        "import sys\n"
        "import numpy as np\n"
        "from ata.media.jitter import JitterBuffer, JitterConfig, JitterMode\n"
        "for mode in JitterMode:\n"
        "    jb = JitterBuffer(JitterConfig(mode=mode))\n"
        "    for k in range(200):\n"
        "        jb.put(160 * k, np.zeros(160, np.int16), 0.02 * k + 0.001 * (k % 7))\n"
        "        jb.pop(0.02 * k + 0.03)\n"
        "print('numpy.ma' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
