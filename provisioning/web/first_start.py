"""First start of the web admin: no admin password yet, so make one, store it, announce it.

Kept apart from :mod:`provisioning.web.server` (aiohttp) so the daemon can run it when it
starts, while the admin application itself is loaded only at its first connection
(:mod:`provisioning.web.ondemand`): the password is on the console from boot, before anyone
opens the admin.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from typing import Protocol

import msgspec

from provisioning.passwords import hash_password_async
from provisioning.schema import Config
from provisioning.validate import FieldError
from provisioning.web.auth import generate_password

_LOG = logging.getLogger("provisioning.web")

Announce = Callable[[str], None]


class ConfigStore(Protocol):
    """What storing the password needs (a part of :class:`~.backend.AdminBackend`)."""

    def current_config(self) -> Config: ...

    async def apply_config(self, new: Config) -> Sequence[FieldError]: ...


def announce_on_console(password: str) -> None:
    """Default announcement of a generated password: the console (stderr) and the log, once.

    The one documented place where a secret reaches a log (see :mod:`.auth`)."""
    text = (
        "web admin: this device's initial admin password (shown only now; change it on the "
        f"Password page) -> {password}"
    )
    _LOG.warning("%s", text)
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


async def ensure_admin_password(backend: ConfigStore, announce: Announce) -> None:
    """No admin password yet: make one, store its hash through ``backend``, announce it once."""
    config = backend.current_config()
    if config.admin.password_hash:
        return
    password = generate_password()
    hashed = await hash_password_async(password)
    if backend.current_config().admin.password_hash:
        return  # set meanwhile (another start-up path, or the Password page)
    config = backend.current_config()
    admin = msgspec.structs.replace(config.admin, password_hash=hashed)
    errors = await backend.apply_config(msgspec.structs.replace(config, admin=admin))
    if errors:
        _LOG.error(
            "web admin: could not store the generated admin password (%s); log-in stays "
            "impossible until one is set (ata config admin-password)",
            "; ".join(str(e) for e in errors),
        )
        return
    announce(password)
