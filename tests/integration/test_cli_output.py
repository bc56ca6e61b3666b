"""The command line's output convention: tables for people, ``--json`` for machines, never a secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scim_server.cli import main


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
        "ID",
        "NAME",
        "TYPE",
        "FORMAT",
        "STATE",
        "CURSOR",
        "LAG",
        "LAST",
        "SUCCESS",
        "DEAD",
        "LETTERS",
        "LAST",
        "ERROR",
    ]
    assert json.loads(cli("stream", "list", "--org", "acme", "--json")[0]) == []
    config = json.dumps({"url": "https://siem.example.com/hook", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
    created = json.loads(
        cli("stream", "create", "--org", "acme", "--type", "webhook", "--name", "siem", "--config", config)[0]
    )
    row = cli("stream", "list", "--org", "acme")[0].splitlines()[1].split()
    assert row[:5] == [created["id"], "siem", "webhook", "native", "active"]
    shown = cli("stream", "show", "--org", "acme", created["id"])[0]
    assert any(line.split()[:2] == ["state", "active"] for line in shown.splitlines())
    assert "whsec_" not in shown
    assert json.loads(cli("stream", "show", "--org", "acme", created["id"], "--json")[0])["name"] == "siem"
