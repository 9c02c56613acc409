"""Import contracts: the arrows between packages point one way (DESIGN.md, "Packages").

- The sans-IO cores (ata/sip, ata/media, ata/dsp, ata/line) import no asyncio, sockets,
  threads, selectors or hardware packages, never read the clock or sleep, and do not import
  the runtime.
- hal/ and board/ never import pi-ata's runtime (ata.runtime, ata.cli, ata.commands).
- Hardware libraries are imported lazily (inside functions), so ``import hal`` works anywhere.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORES = ("ata/sip", "ata/media", "ata/dsp", "ata/line")
FORBIDDEN_IN_CORES = {
    "asyncio",
    "socket",
    "threading",
    "selectors",
    "multiprocessing",
    "subprocess",
    "concurrent",
    "spidev",
    "gpiod",
    "alsaaudio",
    "RPi",
    "smbus2",
    "serial",
    "lgpio",
    "aiohttp",
    "ata.runtime",
    "ata.cli",
    "ata.commands",
    "hal",
    "board",
    "provisioning",
}
CLOCK_CALLS = {
    ("time", "time"),
    ("time", "monotonic"),
    ("time", "sleep"),
    ("time", "perf_counter"),
    ("time", "monotonic_ns"),
    ("time", "time_ns"),
    ("datetime", "now"),
}
HARDWARE = ("spidev", "gpiod", "alsaaudio", "RPi", "smbus2", "serial", "lgpio")


def _python_files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _imports(tree: ast.AST) -> list[tuple[str, int, bool]]:
    """(module, line, at_top_level) for every import in the tree."""
    found: list[tuple[str, int, bool]] = []
    top = {id(node) for node in getattr(tree, "body", [])}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno, id(node) in top) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno, id(node) in top))
    return found


def _matches(module: str, forbidden: str) -> bool:
    return module == forbidden or module.startswith(forbidden + ".")


def test_sans_io_cores_do_no_io_and_read_no_clock() -> None:
    problems: list[str] = []
    for core in CORES:
        for path in _python_files(core):
            tree = ast.parse(path.read_text(), filename=str(path))
            for module, line, _ in _imports(tree):
                if any(_matches(module, bad) for bad in FORBIDDEN_IN_CORES):
                    problems.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name)
                    and (node.func.value.id, node.func.attr) in CLOCK_CALLS
                ):
                    problems.append(
                        f"{path.relative_to(ROOT)}:{node.lineno} calls "
                        f"{node.func.value.id}.{node.func.attr}() (pass time in)"
                    )
    assert not problems, "\n".join(problems)


def test_hal_and_board_do_not_import_the_runtime() -> None:
    problems: list[str] = []
    for folder in ("hal", "board"):
        for path in _python_files(folder):
            tree = ast.parse(path.read_text(), filename=str(path))
            for module, line, _ in _imports(tree):
                if module.startswith(("ata.runtime", "ata.cli", "ata.commands", "provisioning")):
                    problems.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not problems, "\n".join(problems)


def test_hardware_libraries_are_imported_lazily() -> None:
    problems: list[str] = []
    for folder in ("ata", "hal", "board", "provisioning"):
        for path in _python_files(folder):
            tree = ast.parse(path.read_text(), filename=str(path))
            for module, line, top_level in _imports(tree):
                if top_level and any(_matches(module, hw) for hw in HARDWARE):
                    problems.append(
                        f"{path.relative_to(ROOT)}:{line} imports {module} at import time"
                    )
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("package", ["ata", "hal", "board", "provisioning"])
def test_packages_import_without_hardware_libraries(package: str) -> None:
    """Importing every module of a package must not pull in a hardware library."""
    code = (
        "import importlib, pkgutil, sys\n"
        f"pkg = importlib.import_module({package!r})\n"
        "for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "    if not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {HARDWARE!r}]\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
