"""The ``scimtrail`` parser, assembled from the command groups, and the one place errors become exit statuses."""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import PackageNotFoundError, version

import audit

from ..protocol.errors import ScimError
from ..settings import ConfigurationError, Settings
from . import _admin, _audit, _oauth_client, _org, _relay, _serve, _stream, _token
from ._shared import HelpFormatter

__all__ = ["build_parser", "main"]

#: In the order ``scimtrail --help`` lists them.
_GROUPS = (_serve, _org, _token, _oauth_client, _admin, _audit, _stream, _relay)


def _version() -> str:
    try:
        return version("scimtrail")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scimtrail",
        description="SCIM 2.0 provisioning with an audit trail. Settings come from SCIMTRAIL_* environment variables.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in _GROUPS:
        group.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        return int(args.handler(args, settings))
    except ConfigurationError as exc:
        return _error(str(exc))
    except ScimError as exc:
        return _error(exc.detail)
    except audit.StreamError as exc:
        return _error(exc.message)
    except audit.QueryError as exc:
        return _error(str(exc))


def _error(message: str) -> int:
    """A mistake the operator can fix: one line, exit status 2 (as argparse's own usage errors)."""
    print(f"error: {message}", file=sys.stderr)
    return 2
