"""Subcommands of the ``ata`` command; each module exposes ``register(subparsers)``."""
