"""The GPIO backends' glue, without a GPIO chip: the real ``gpiod`` package's settings and
event types with the kernel request replaced by a pipe-backed stand-in (the edge path runs
through a real file descriptor and ``loop.add_reader``); RPi.GPIO's thread hand-over with a
real thread."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import types
from collections.abc import Callable
from typing import Any

import pytest

from hal.errors import BackendUnavailableError
from hal.gpio import GpiodBackend, Pull, RpiGpioBackend

gpiod = pytest.importorskip("gpiod")


class FakeRequest:
    """Stands in for gpiod.LineRequest: a pipe's read end is the request fd."""

    def __init__(self, config: dict[int, Any]) -> None:
        self.config = config
        self.rfd, self.wfd = os.pipe()
        os.set_blocking(self.rfd, False)
        self.fd = self.rfd
        self.values: dict[int, Any] = {pin: s.output_value for pin, s in config.items()}
        self.pending: list[Any] = []
        self.released = False

    def set_value(self, pin: int, value: Any) -> None:
        self.values[pin] = value

    def get_value(self, pin: int) -> Any:
        return self.values[pin]

    def kernel_edge(self, rising: bool, timestamp_ns: int) -> None:
        kind = gpiod.EdgeEvent.Type.RISING_EDGE if rising else gpiod.EdgeEvent.Type.FALLING_EDGE
        self.pending.append(gpiod.EdgeEvent(kind.value, timestamp_ns, 0, 0, 0))
        os.write(self.wfd, b"e")

    def read_edge_events(self) -> list[Any]:
        os.read(self.rfd, 64)
        out, self.pending = self.pending, []
        return out

    def release(self) -> None:
        self.released = True
        os.close(self.rfd)
        os.close(self.wfd)


@pytest.fixture
def requests(monkeypatch: pytest.MonkeyPatch) -> list[FakeRequest]:
    made: list[FakeRequest] = []

    def request_lines(path: str, config: dict[int, Any], consumer: str | None = None) -> Any:
        assert path == "/dev/gpiochip0"
        assert consumer == "pi-ata"
        for settings in config.values():
            assert isinstance(settings, gpiod.LineSettings)
        request = FakeRequest(config)
        made.append(request)
        return request

    monkeypatch.setattr(gpiod, "request_lines", request_lines)
    return made


async def test_gpiod_outputs_inputs_and_kernel_timestamped_edges(
    requests: list[FakeRequest],
) -> None:
    backend = GpiodBackend("/dev/gpiochip0")
    out = backend.output(17, True)
    settings = requests[0].config[17]
    assert settings.direction is gpiod.line.Direction.OUTPUT
    assert settings.output_value is gpiod.line.Value.ACTIVE
    out.set(False)
    assert requests[0].values[17] is gpiod.line.Value.INACTIVE

    edges: list[tuple[bool, float]] = []
    got = asyncio.Event()

    def on_edge(level: bool, at: float) -> None:
        edges.append((level, at))
        if len(edges) == 2:
            got.set()

    line = backend.input(22, pull=Pull.DOWN, on_edge=on_edge)
    s = requests[1].config[22]
    assert s.edge_detection is gpiod.line.Edge.BOTH
    assert s.bias is gpiod.line.Bias.PULL_DOWN
    assert s.event_clock is gpiod.line.Clock.MONOTONIC
    requests[1].values[22] = gpiod.line.Value.ACTIVE
    assert line.get() is True
    requests[1].kernel_edge(True, 1_234_500_000)
    requests[1].kernel_edge(False, 1_250_000_000)
    await asyncio.wait_for(got.wait(), 2.0)
    assert edges == [(True, 1.2345), (False, 1.25)]
    backend.close()
    assert all(r.released for r in requests)


def test_gpiod_v1_api_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gpiod", types.ModuleType("gpiod"))  # no request_lines
    with pytest.raises(BackendUnavailableError, match="v1 API"):
        GpiodBackend("/dev/gpiochip0")


def fake_rpi_gpio() -> tuple[types.ModuleType, dict[str, Any]]:
    state: dict[str, Any] = {"levels": {}, "callbacks": {}, "cleaned": None}
    mod = types.ModuleType("RPi.GPIO")
    for name, value in {
        "BCM": 11, "OUT": 0, "IN": 1, "HIGH": 1, "LOW": 0, "BOTH": 33,
        "PUD_OFF": 20, "PUD_UP": 22, "PUD_DOWN": 21,
    }.items():  # fmt: skip
        setattr(mod, name, value)
    mod.setmode = lambda mode: state.setdefault("mode", mode)  # type: ignore[attr-defined]
    mod.setwarnings = lambda flag: None  # type: ignore[attr-defined]

    def setup(pin: int, direction: int, **kw: Any) -> None:
        state["levels"][pin] = kw.get("initial", 0)

    def add_event_detect(pin: int, edge: int, callback: Callable[[int], None]) -> None:
        state["callbacks"][pin] = callback

    mod.setup = setup  # type: ignore[attr-defined]
    mod.output = lambda pin, v: state["levels"].__setitem__(pin, v)  # type: ignore[attr-defined]
    mod.input = lambda pin: state["levels"][pin]  # type: ignore[attr-defined]
    mod.add_event_detect = add_event_detect  # type: ignore[attr-defined]
    mod.cleanup = lambda pins: state.__setitem__("cleaned", list(pins))  # type: ignore[attr-defined]
    return mod, state


async def test_rpi_gpio_edges_cross_from_the_library_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mod, state = fake_rpi_gpio()
    package = types.ModuleType("RPi")
    package.GPIO = mod  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "RPi", package)
    monkeypatch.setitem(sys.modules, "RPi.GPIO", mod)
    backend = RpiGpioBackend()
    assert state["mode"] == 11
    out = backend.output(17, False)
    out.set(True)
    assert state["levels"][17] == 1
    loop_thread = threading.get_ident()
    seen: list[tuple[bool, float, int]] = []
    done = asyncio.Event()

    def on_edge(level: bool, at: float) -> None:
        seen.append((level, at, threading.get_ident()))
        done.set()

    backend.input(22, pull=Pull.UP, on_edge=on_edge)

    def library_thread() -> None:
        state["levels"][22] = 1
        state["callbacks"][22](22)

    thread = threading.Thread(target=library_thread)
    thread.start()
    await asyncio.wait_for(done.wait(), 2.0)
    thread.join()
    assert seen[0][0] is True
    assert seen[0][2] == loop_thread  # delivered on the loop thread
    backend.close()
    assert state["cleaned"] == [17, 22]
