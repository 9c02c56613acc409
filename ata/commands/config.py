"""``ata config ...``: check a config file, print the schema reference, show the config."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

SECRET_KEYS = frozenset({"password", "password_hash"})


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "config", help="check, document and show the pi-ata configuration"
    )
    cmds = parser.add_subparsers(dest="config_cmd", metavar="ACTION")

    check = cmds.add_parser("check", help="validate a config file, listing every error")
    check.add_argument(
        "file", type=Path, help="TOML, JSON (.json) or Cisco SPA flat-profile XML (.xml) file"
    )
    check.set_defaults(handler=run_check)

    schema = cmds.add_parser("schema", help="print the generated configuration reference")
    schema.set_defaults(handler=run_schema)

    show = cmds.add_parser("show", help="print the effective configuration (secrets masked)")
    show.add_argument("--config", type=Path, default=None, help="config file (default: system)")
    show.add_argument("--json", action="store_true", help="print JSON instead of TOML")
    show.add_argument("--show-secrets", action="store_true", help="do not mask passwords")
    show.set_defaults(handler=run_show)

    passwd = cmds.add_parser(
        "admin-password", help="set the web admin password (e.g. after losing it)"
    )
    passwd.add_argument("--config", type=Path, default=None, help="config file (default: system)")
    passwd.add_argument("--stdin", action="store_true", help="read the password from stdin")
    passwd.set_defaults(handler=run_admin_password)

    def show_help(_args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    parser.set_defaults(handler=show_help)


def _read_any(path: Path) -> object:
    """Raw config data of a file; an SPA flat profile is laid over the defaults."""
    from provisioning.schema import Config, to_data
    from provisioning.spa_xml import FlatProfileError, apply_flat_profile, parse_flat_profile
    from provisioning.store import read_config_data
    from provisioning.validate import ConfigValidationError, FieldError

    if path.suffix.lower() != ".xml":
        return read_config_data(path)
    try:
        params = parse_flat_profile(path.read_bytes())
    except FlatProfileError as exc:
        raise ConfigValidationError([FieldError("", str(exc))]) from None
    data, ignored = apply_flat_profile(to_data(Config()), params)
    if ignored:
        print(f"{path}: ignored SPA parameters: {', '.join(ignored)}", file=sys.stderr)
    return data


def run_check(args: argparse.Namespace) -> int:
    from provisioning.validate import ConfigValidationError, validate_data

    try:
        data = _read_any(args.file)
    except OSError as exc:
        print(f"{args.file}: cannot read: {exc.strerror}", file=sys.stderr)
        return 2
    except ConfigValidationError as exc:
        for error in exc.errors:
            print(f"{args.file}: {error}")
        return 1
    from ata.line.dialplan import DialPlan

    _config, errors = validate_data(data, dial_plan_parser=DialPlan.parse)
    for error in errors:
        print(f"{args.file}: {error}")
    if errors:
        print(f"{len(errors)} error(s)", file=sys.stderr)
        return 1
    print(f"{args.file}: OK")
    return 0


def run_schema(_args: argparse.Namespace) -> int:
    from provisioning.docgen import render_reference

    sys.stdout.write(render_reference())
    return 0


def _mask(value: object) -> object:
    if isinstance(value, dict):
        return {k: ("********" if k in SECRET_KEYS and v else _mask(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return value


def run_show(args: argparse.Namespace) -> int:
    import tomli_w

    from provisioning.schema import to_data
    from provisioning.store import config_path, load_config
    from provisioning.validate import ConfigValidationError

    path = config_path(args.config)
    try:
        config = load_config(path)
    except ConfigValidationError as exc:
        for error in exc.errors:
            print(f"{path}: {error}", file=sys.stderr)
        return 1
    data = to_data(config)
    if not args.show_secrets:
        data = _mask(data)  # type: ignore[assignment]
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        sys.stdout.write(tomli_w.dumps(data))
    return 0


def run_admin_password(args: argparse.Namespace) -> int:
    import getpass

    import msgspec

    from provisioning.passwords import hash_password, password_problem
    from provisioning.store import config_path, load_config, save_config
    from provisioning.validate import ConfigValidationError

    path = config_path(args.config)
    try:
        config = load_config(path)
    except ConfigValidationError as exc:
        for error in exc.errors:
            print(f"{path}: {error}", file=sys.stderr)
        return 1
    if args.stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("New admin password: ")
        if getpass.getpass("Repeat: ") != password:
            print("error: the two passwords differ", file=sys.stderr)
            return 1
    problem = password_problem(password)
    if problem:
        print(f"error: password {problem}", file=sys.stderr)
        return 1
    admin = msgspec.structs.replace(config.admin, password_hash=hash_password(password))
    save_config(msgspec.structs.replace(config, admin=admin), path)
    print(f"{path}: admin password set")
    return 0
