"""The ``scimtrail`` parser: ``--version``, and help that says what every option is for, with its
default and choices."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from importlib.metadata import version

import pytest

from scim_server.cli import build_parser, main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"scimtrail {version('scimtrail')}"


def _parsers(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield parser.prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from _parsers(child)


def test_every_option_says_what_it_is_for() -> None:
    missing = [
        f"{prog} {action.option_strings or action.dest}"
        for prog, parser in _parsers(build_parser())
        for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction) and not action.help
    ]
    assert missing == []


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        (["serve"], ["(default: 127.0.0.1)", "(default: 8000)"]),
        (["org", "create"], ["(default: default)"]),
        (["admin", "create"], ["{admin,auditor}", "(default: admin)"]),
        (["audit", "export"], ["{csv,json,ndjson}", "(default: ndjson)", "{today,7d,30d,90d}"]),
        (["stream", "create"], ["{native,ocsf,cef}"]),
        (["token", "list"], ["--json"]),
    ],
)
def test_help_shows_defaults_and_choices(
    command: list[str], shown: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for part in shown:
        assert part in text
    assert "(default: None)" not in text and "(default: False)" not in text
