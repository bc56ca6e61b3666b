"""The ``scimtrail`` command: serve, manage organisations and credentials, operate the audit log.

One module per command group (``_serve``, ``_org``, ``_token``, ``_oauth_client``, ``_admin``,
``_audit``, ``_stream``, ``_relay``), each registering its subcommands and one handler for each;
``_shared`` holds what they have in common (the database, argument parsing, tables and JSON).
"""

from ._main import build_parser, main

__all__ = ["build_parser", "main"]
