"""What changed between two configs, so the runtime applies only that.

:func:`diff_configs` compares two validated configs leaf by leaf and returns a
:class:`ConfigDiff`: the changed paths, the top-level sections touched, and per line whether it
changed, appeared or disappeared. The runtime's rule of thumb:

- :meth:`ConfigDiff.lines_to_reregister`: lines whose account changed (enabled, proxy, outbound
  proxy, user, auth user, password, registration timing), new lines, and every line when the
  ``network`` section (transport, port) changed: unregister/register those lines again; the
  others keep their registration and any call in progress;
- :meth:`ConfigDiff.lines_to_reconfigure`: lines where only call/analog settings changed (dial
  plan, codecs, DTMF mode, caller ID, cadence, gains, hook flash, pulse dialing): apply in place
  for the next call, no re-registration;
- ``lines_removed``: unregister and idle those ports;
- other sections (``security``, ``provisioning``, ``admin``, ``registrar``, ``device``,
  ``tones``, ``ring``) are applied in place by their owners; ``sections`` says which changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from provisioning.schema import Config, to_data

#: Line fields whose change needs a new registration (the first path element inside a line).
REGISTRATION_FIELDS: Final = frozenset(
    {"enabled", "proxy", "outbound_proxy", "user", "auth_user", "password", "registration"}
)


@dataclass(frozen=True)
class ConfigDiff:
    paths: tuple[str, ...]  # changed leaves, e.g. "lines[1].registration.expires"
    sections: frozenset[str]  # top-level keys with a change ("lines" included)
    lines_changed: frozenset[int]
    lines_added: frozenset[int]
    lines_removed: frozenset[int]

    @property
    def empty(self) -> bool:
        return not self.paths

    @property
    def restart_transport(self) -> bool:
        return "network" in self.sections

    def lines_to_reregister(self, n_lines: int | None = None) -> frozenset[int]:
        """Indexes (in the new config) of lines that must register again.

        ``n_lines`` (the new config's line count) is needed to list every line when the
        transport changed; without it only lines with their own changes are listed.
        """
        if self.restart_transport and n_lines is not None:
            return frozenset(range(n_lines))
        account = frozenset(
            index
            for index in self.lines_changed
            if any(f.split(".", 1)[0] in REGISTRATION_FIELDS for f in self.line_fields(index))
        )
        return account | self.lines_added

    def lines_to_reconfigure(self) -> frozenset[int]:
        """Changed lines that keep their registration (only call/analog settings changed)."""
        return self.lines_changed - self.lines_to_reregister()

    def line_fields(self, index: int) -> tuple[str, ...]:
        """Changed paths inside ``lines[index]``, relative to the line."""
        prefix = f"lines[{index}]."
        return tuple(p[len(prefix) :] for p in self.paths if p.startswith(prefix))


def _leaves(value: object, path: str, out: dict[str, object]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _leaves(item, f"{path}.{key}" if path else str(key), out)
    elif isinstance(value, list) and path == "lines":
        for index, item in enumerate(value):
            _leaves(item, f"{path}[{index}]", out)
    else:
        out[path] = value


def diff_configs(old: Config, new: Config) -> ConfigDiff:
    before: dict[str, object] = {}
    after: dict[str, object] = {}
    _leaves(to_data(old), "", before)
    _leaves(to_data(new), "", after)
    paths = sorted(
        p for p in before.keys() | after.keys() if before.get(p, ...) != after.get(p, ...)
    )
    n_old, n_new = len(old.lines), len(new.lines)
    changed = frozenset(
        i for i in range(min(n_old, n_new)) if any(p.startswith(f"lines[{i}].") for p in paths)
    )
    sections = frozenset(p.split(".", 1)[0].split("[", 1)[0] for p in paths)
    return ConfigDiff(
        paths=tuple(paths),
        sections=sections,
        lines_changed=changed,
        lines_added=frozenset(range(n_old, n_new)),
        lines_removed=frozenset(range(n_new, n_old)),
    )
