"""The GPIO interface drivers are written against, and its Linux backends.

Theory of operation
-------------------
Drivers ask a :class:`GpioBackend` (passed in explicitly, never a global default) for output
lines (:class:`OutputLine`: ``set``) and input lines (:class:`InputLine`: ``get``, plus an edge
callback ``on_edge(level, timestamp)``). Edge callbacks always run on the asyncio loop thread,
with the most precise timestamp the backend has, in seconds on ``time.monotonic()``'s clock:

- :class:`GpiodBackend` — libgpiod v2 (``pip install gpiod``, kernel ≥ 5.10, every Pi model
  including the Pi 5). Edges carry the **kernel** timestamp (CLOCK_MONOTONIC, the same base as
  ``time.monotonic()`` and the asyncio loop); the request's file descriptor is watched with
  ``loop.add_reader``, so no thread is needed. The chip is opened by label (``pinctrl-bcm2711``,
  ``pinctrl-rp1``, ...) because the Pi 5 header chip number changed between kernels.
- :class:`RpiGpioBackend` — RPi.GPIO or its ``rpi-lgpio`` shim. The library calls edge
  callbacks from its own thread; the backend stamps ``time.monotonic()`` there and hands the edge
  to the loop with ``call_soon_threadsafe`` (the thread is the library's, not ours).
- ``hal.sim.gpio_model.SimGpio`` — the simulator, with test verbs.

Hardware libraries are imported inside the backend constructors only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from enum import Enum
from typing import Any, Protocol, runtime_checkable

from hal.errors import BackendUnavailableError

EdgeCallback = Callable[[bool, float], None]  # (new level, timestamp in monotonic seconds)

PI_HEADER_CHIP_LABELS = ("pinctrl-rp1", "pinctrl-bcm2712", "pinctrl-bcm2711", "pinctrl-bcm2835")


class Pull(Enum):
    NONE = "none"
    UP = "up"
    DOWN = "down"


@runtime_checkable
class OutputLine(Protocol):
    def set(self, value: bool) -> None: ...


@runtime_checkable
class InputLine(Protocol):
    def get(self) -> bool: ...


@runtime_checkable
class GpioBackend(Protocol):
    def output(self, pin: int, initial: bool = False) -> OutputLine: ...

    def input(
        self, pin: int, *, pull: Pull = Pull.NONE, on_edge: EdgeCallback | None = None
    ) -> InputLine: ...

    def close(self) -> None: ...


# --- libgpiod v2 -------------------------------------------------------------------------------


class _GpiodOutput:
    def __init__(self, request: Any, pin: int, value_cls: Any) -> None:
        self._request = request
        self._pin = pin
        self._value = value_cls

    def set(self, value: bool) -> None:
        self._request.set_value(self._pin, self._value.ACTIVE if value else self._value.INACTIVE)


class _GpiodInput:
    def __init__(self, request: Any, pin: int, value_cls: Any) -> None:
        self._request = request
        self._pin = pin
        self._value = value_cls

    def get(self) -> bool:
        return bool(self._request.get_value(self._pin) == self._value.ACTIVE)


class GpiodBackend:
    """libgpiod v2 lines on one chip; edge events with kernel timestamps via the asyncio loop."""

    def __init__(self, chip: str | None = None, *, consumer: str = "pi-ata") -> None:
        try:
            import gpiod  # hardware library: imported lazily on purpose
        except ImportError as exc:
            raise BackendUnavailableError(
                "python package 'gpiod' (libgpiod v2) is not installed (pip install gpiod)"
            ) from exc
        if not hasattr(gpiod, "request_lines"):
            raise BackendUnavailableError(
                "the installed gpiod module is the libgpiod v1 API; pi-ata needs v2 "
                "(pip install gpiod)"
            )
        self._gpiod: Any = gpiod
        self._path = chip or self._find_header_chip()
        self._consumer = consumer
        self._requests: list[Any] = []
        self._fds: list[int] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def _find_header_chip(self) -> str:
        import glob

        for path in sorted(glob.glob("/dev/gpiochip*")):
            try:
                with self._gpiod.Chip(path) as chip:
                    if chip.get_info().label in PI_HEADER_CHIP_LABELS:
                        return path
            except OSError:
                continue
        raise BackendUnavailableError("no Raspberry Pi header GPIO chip found under /dev/gpiochip*")

    def output(self, pin: int, initial: bool = False) -> OutputLine:
        g = self._gpiod
        settings = g.LineSettings(
            direction=g.line.Direction.OUTPUT,
            output_value=g.line.Value.ACTIVE if initial else g.line.Value.INACTIVE,
        )
        request = g.request_lines(self._path, consumer=self._consumer, config={pin: settings})
        self._requests.append(request)
        return _GpiodOutput(request, pin, g.line.Value)

    def input(
        self, pin: int, *, pull: Pull = Pull.NONE, on_edge: EdgeCallback | None = None
    ) -> InputLine:
        g = self._gpiod
        bias = {
            Pull.NONE: g.line.Bias.DISABLED,
            Pull.UP: g.line.Bias.PULL_UP,
            Pull.DOWN: g.line.Bias.PULL_DOWN,
        }[pull]
        settings = g.LineSettings(
            direction=g.line.Direction.INPUT,
            bias=bias,
            edge_detection=g.line.Edge.BOTH if on_edge else g.line.Edge.NONE,
            event_clock=g.line.Clock.MONOTONIC,
        )
        request = g.request_lines(self._path, consumer=self._consumer, config={pin: settings})
        self._requests.append(request)
        if on_edge is not None:
            loop = asyncio.get_running_loop()
            rising = g.EdgeEvent.Type.RISING_EDGE

            def readable() -> None:
                for event in request.read_edge_events():
                    on_edge(event.event_type == rising, event.timestamp_ns / 1e9)

            loop.add_reader(request.fd, readable)
            self._loop = loop
            self._fds.append(request.fd)
        return _GpiodInput(request, pin, g.line.Value)

    def close(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            for fd in self._fds:
                self._loop.remove_reader(fd)
        for request in self._requests:
            request.release()
        self._requests.clear()
        self._fds.clear()


# --- RPi.GPIO / rpi-lgpio ---------------------------------------------------------------------


class _RpiOutput:
    def __init__(self, gpio: Any, pin: int) -> None:
        self._gpio = gpio
        self._pin = pin

    def set(self, value: bool) -> None:
        self._gpio.output(self._pin, self._gpio.HIGH if value else self._gpio.LOW)


class _RpiInput:
    def __init__(self, gpio: Any, pin: int) -> None:
        self._gpio = gpio
        self._pin = pin

    def get(self) -> bool:
        return bool(self._gpio.input(self._pin))


class RpiGpioBackend:
    """RPi.GPIO (or rpi-lgpio); edges are stamped in the library's thread, run on the loop."""

    def __init__(self) -> None:
        try:
            import RPi.GPIO as gpio  # noqa: N811 - lazily imported hardware library
        except (ImportError, RuntimeError) as exc:
            raise BackendUnavailableError(
                f"RPi.GPIO is unavailable ({exc}); on a Pi 5 install rpi-lgpio or use gpiod"
            ) from exc
        self._gpio: Any = gpio
        gpio.setmode(gpio.BCM)
        gpio.setwarnings(False)
        self._pins: list[int] = []

    def output(self, pin: int, initial: bool = False) -> OutputLine:
        g = self._gpio
        g.setup(pin, g.OUT, initial=g.HIGH if initial else g.LOW)
        self._pins.append(pin)
        return _RpiOutput(g, pin)

    def input(
        self, pin: int, *, pull: Pull = Pull.NONE, on_edge: EdgeCallback | None = None
    ) -> InputLine:
        g = self._gpio
        pud = {Pull.NONE: g.PUD_OFF, Pull.UP: g.PUD_UP, Pull.DOWN: g.PUD_DOWN}[pull]
        g.setup(pin, g.IN, pull_up_down=pud)
        self._pins.append(pin)
        if on_edge is not None:
            loop = asyncio.get_running_loop()

            def edge(channel: int) -> None:  # runs in RPi.GPIO's thread
                stamp = time.monotonic()
                level = bool(g.input(channel))
                loop.call_soon_threadsafe(on_edge, level, stamp)

            g.add_event_detect(pin, g.BOTH, callback=edge)
        return _RpiInput(g, pin)

    def close(self) -> None:
        if self._pins:
            self._gpio.cleanup(self._pins)
            self._pins.clear()
