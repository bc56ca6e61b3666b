"""Log streams managed from the command line: the same service, secrets never shown."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from tests.support.receivers import Served, WebhookReceiver

pytestmark = pytest.mark.slow

_BIN = str(Path(sys.executable).parent / "scimtrail")
_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


async def _cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        _BIN, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode or 0, out.decode(), err.decode()


def _env(tmp_path: Path, **settings: str) -> dict[str, str]:
    return {
        **os.environ,
        "SCIMTRAIL_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "SCIMTRAIL_SECRET_KEY": "cli-streams-test-key",
        "SCIMTRAIL_LOG_LEVEL": "warning",
        **{f"SCIMTRAIL_{name.upper()}": value for name, value in settings.items()},
    }


async def test_create_test_pause_and_delete_a_webhook_stream(tmp_path: Path) -> None:
    env = _env(tmp_path, streams_allow_private_networks="true")  # the receiver is on 127.0.0.1
    assert (await _cli(env, "org", "create", "acme"))[0] == 0
    receiver = WebhookReceiver(_SECRET)
    async with Served(receiver.app) as served:
        config = json.dumps({"url": f"{served.url}/hook", "secret": _SECRET})
        code, out, err = await _cli(
            env, "stream", "create", "--org", "acme", "--type", "webhook", "--name", "siem", "--config", config
        )
        assert code == 0, err
        created = json.loads(out)
        assert created["state"] == "active" and created["config"]["url"].endswith("/hook")
        assert _SECRET not in out, "a stream secret must never be shown back"

        code, out, err = await _cli(env, "stream", "test", "--org", "acme", created["id"])
        assert code == 0, out + err
        assert receiver.received and receiver.received[0]["organization"] == "acme"

        code, out, _ = await _cli(env, "stream", "pause", "--org", "acme", created["id"])
        assert json.loads(out)["state"] == "paused"
        listed = json.loads((await _cli(env, "stream", "list", "--org", "acme", "--json"))[1])
        assert [s["name"] for s in listed] == ["siem"] and _SECRET not in json.dumps(listed)

        code, _, err = await _cli(
            env, "stream", "create", "--org", "acme", "--type", "webhook", "--name", "bad", "--config", "{not json"
        )
        assert code == 2 and "not valid JSON" in err
        code, _, err = await _cli(env, "stream", "show", "--org", "nobody", created["id"])
        assert code == 2 and "no organisation" in err

        assert (await _cli(env, "stream", "delete", "--org", "acme", created["id"]))[0] == 0
        assert json.loads((await _cli(env, "stream", "list", "--org", "acme", "--json"))[1]) == []


async def test_a_private_destination_is_refused_unless_the_operator_allows_it(tmp_path: Path) -> None:
    env = _env(tmp_path)
    assert (await _cli(env, "org", "create", "acme"))[0] == 0
    config = json.dumps({"url": "http://169.254.169.254/latest/meta-data/", "secret": _SECRET})
    create = ("stream", "create", "--org", "acme", "--type", "webhook", "--name", "siem", "--config", config)
    code, _, err = await _cli(env, *create)
    assert code == 2
    assert err.startswith("error: config.url: destination refused: 169.254.169.254 is a cloud metadata address")
    code, out, err = await _cli(_env(tmp_path, streams_allowed_networks="169.254.169.254/32"), *create)
    assert code == 0, err
    assert json.loads(out)["config"]["url"] == "http://169.254.169.254/latest/meta-data"
