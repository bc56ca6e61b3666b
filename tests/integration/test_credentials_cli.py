"""The credential commands of ``scimtrail``, for operators without the API."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scim_server.cli import main


class Cli:
    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, *args: str, status: int = 0) -> str:
        self.capsys.readouterr()
        assert main(list(args)) == status
        captured = self.capsys.readouterr()
        return captured.out + captured.err

    @staticmethod
    def find(pattern: str, text: str) -> str:
        match = re.search(pattern, text)
        assert match, text
        return match.group(1)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    monkeypatch.setenv("SCIMTRAIL_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("SCIMTRAIL_LOG_LEVEL", "warning")
    run = Cli(capsys)
    run("org", "create", "acme")
    return run


def test_tokens(cli: Cli) -> None:
    out = cli("token", "create", "--org", "acme", "--label", "okta-prod", "--expires-at", "2099-01-01T00:00:00Z")
    token = cli.find(r"(scim_[0-9a-f]{12}_\S+)", out)
    token_id = cli.find(r"id ([0-9a-f-]{36})", out)
    listing = cli("token", "list", "--org", "acme")
    assert "okta-prod" in listing and "2099-01-01" in listing and token not in listing
    assert token.split("_")[1] in listing  # the public prefix identifies it

    rotated = cli("token", "rotate", "--org", "acme", token_id, "--grace", "3600")
    assert cli.find(r"(scim_[0-9a-f]{12}_\S+)", rotated) != token
    assert "old token stops at" in rotated
    cli("token", "revoke", "--org", "acme", token_id)
    states = cli("token", "list", "--org", "acme")
    assert len(re.findall(r"\bokta-prod\b.*\brevoked\b", states)) == 1
    assert len(re.findall(r"\bokta-prod\b.*\bactive\b", states)) == 1


def test_oauth_clients(cli: Cli) -> None:
    out = cli("oauth-client", "create", "--org", "acme", "--label", "entra")
    secret = cli.find(r"client_secret:\s+(\S+)", out)
    client_id = cli.find(r"id ([0-9a-f-]{36})", out)
    rotated = cli("oauth-client", "rotate-secret", "--org", "acme", client_id)
    assert cli.find(r"new client_secret: (\S+)", rotated) != secret
    cli("oauth-client", "revoke", "--org", "acme", client_id)
    listing = cli("oauth-client", "list", "--org", "acme")
    assert "entra" in listing and "revoked" in listing and secret not in listing


def test_admin_accounts(cli: Cli) -> None:
    out = cli("admin", "create", "--org", "acme", "--email", "ops@acme.example", "--role", "admin")
    assert cli.find(r"(sk_[0-9a-f]{12}_\S+)", out)
    cli("admin", "create", "--org", "acme", "--email", "audit@acme.example", "--role", "auditor")
    listing = cli("admin", "list", "--org", "acme")
    assert re.search(r"ops@acme\.example\s+admin", listing) and re.search(r"audit@acme\.example\s+auditor", listing)


def test_errors_are_one_line_not_a_traceback(cli: Cli) -> None:
    assert "No organisation" in cli("token", "list", "--org", "nope", status=2)
    assert "ISO 8601" in cli("token", "create", "--org", "acme", "--label", "x1", "--expires-at", "soon", status=2)
    cli("admin", "create", "--org", "acme", "--email", "a@acme.example")
    assert "already exists" in cli("admin", "create", "--org", "acme", "--email", "A@acme.example", status=2)
    assert "not found" in cli("token", "revoke", "--org", "acme", "00000000-0000-0000-0000-000000000000", status=2)
