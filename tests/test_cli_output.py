"""The command line's conventions: tables for people, ``--json`` for machines, ``--version``,
help that shows defaults and choices, and a configuration mistake as one line."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest

from scim_server.cli import build_parser, main

_BIN = str(Path(sys.executable).parent / "scimtrail")


class Cli:
    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, *args: str, status: int = 0) -> tuple[str, str]:
        self.capsys.readouterr()
        assert main(list(args)) == status
        captured = self.capsys.readouterr()
        return captured.out, captured.err


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    monkeypatch.setenv("SCIMTRAIL_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("SCIMTRAIL_LOG_LEVEL", "warning")
    monkeypatch.setenv("SCIMTRAIL_SECRET_KEY", "cli-output-test-key")
    run = Cli(capsys)
    run("org", "create", "acme")
    return run


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"scimtrail {version('scimtrail')}"


def test_lists_are_tables_and_json_for_machines(cli: Cli) -> None:
    created, _ = cli("token", "create", "--org", "acme", "--label", "okta-prod")
    secret = created.split("Token: ")[1].split()[0]
    cli("oauth-client", "create", "--org", "acme", "--label", "entra")
    cli("admin", "create", "--org", "acme", "--email", "ops@acme.example")

    table, _ = cli("token", "list", "--org", "acme")
    assert table.splitlines()[0].split() == ["ID", "LABEL", "PREFIX", "STATE", "CREATED", "LAST", "USED", "EXPIRES"]
    tokens = json.loads(cli("token", "list", "--org", "acme", "--json")[0])
    assert sorted(t["label"] for t in tokens) == ["default", "okta-prod"]
    assert {"id", "label", "prefix", "state", "created_at", "last_used_at", "expires_at"} <= set(tokens[0])
    assert all("token" not in t for t in tokens) and secret not in json.dumps(tokens)

    clients = json.loads(cli("oauth-client", "list", "--org", "acme", "--json")[0])
    assert [(c["label"], c["state"]) for c in clients] == [("entra", "active")]
    assert all("client_secret" not in c for c in clients)

    accounts = json.loads(cli("admin", "list", "--org", "acme", "--json")[0])
    assert [(a["email"], a["role"]) for a in accounts] == [("ops@acme.example", "admin")]
    assert all("key" not in a for a in accounts)


def test_stream_list_and_show_are_tables_unless_asked_for_json(cli: Cli) -> None:
    assert cli("stream", "list", "--org", "acme")[0].split() == [
        "ID", "NAME", "TYPE", "FORMAT", "STATE", "CURSOR", "LAG", "LAST", "SUCCESS", "DEAD", "LETTERS", "LAST", "ERROR"
    ]
    assert json.loads(cli("stream", "list", "--org", "acme", "--json")[0]) == []
    config = json.dumps({"url": "https://siem.example.com/hook", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
    created = json.loads(cli("stream", "create", "--org", "acme", "--type", "webhook", "--name", "siem", "--config", config)[0])
    row = cli("stream", "list", "--org", "acme")[0].splitlines()[1].split()
    assert row[:5] == [created["id"], "siem", "webhook", "native", "active"]
    shown = cli("stream", "show", "--org", "acme", created["id"])[0]
    assert any(line.split()[:2] == ["state", "active"] for line in shown.splitlines())
    assert "whsec_" not in shown
    assert json.loads(cli("stream", "show", "--org", "acme", created["id"], "--json")[0])["name"] == "siem"


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
def test_help_shows_defaults_and_choices(command: list[str], shown: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for part in shown:
        assert part in text
    assert "(default: None)" not in text and "(default: False)" not in text


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({"SCIMTRAIL_RELAY": "sideways"}, "error: SCIMTRAIL_RELAY='sideways': expected one of child, inprocess, external, off"),
        ({"SCIMTRAIL_RELAY": "child", "SCIMTRAIL_DATABASE_URL": "sqlite://"}, "error: SCIMTRAIL_RELAY=child: an in-memory"),
        ({"SCIMTRAIL_RUN_RELAY": "false"}, "error: SCIMTRAIL_RUN_RELAY is replaced by SCIMTRAIL_RELAY"),
    ],
)
def test_a_bad_relay_setting_is_one_line_at_start(tmp_path: Path, env: dict[str, str], line: str) -> None:
    done = subprocess.run(
        [_BIN, "serve", "--port", "1"],
        env={**os.environ, "SCIMTRAIL_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith(line), done.stderr
