"""``SCIMTRAIL_RELAY``: where the audit relay runs, resolved once in ``Settings`` for the database,
and refused in one line where it cannot work. What the server runs for each placement:
``tests/integration/test_relay_placement.py``; the child process itself: ``tests/e2e/audit/test_log_file.py``."""

from __future__ import annotations

import pytest

from scim_server.settings import ConfigurationError, RelayPlacement, Settings

_FILE = "sqlite+aiosqlite:///./scimtrail.db"
_MEMORY = "sqlite+aiosqlite://"
_SHARED_MEMORY = "sqlite+aiosqlite:///file:x?mode=memory&cache=shared&uri=true"
_POSTGRES = "postgresql+asyncpg://u:p@db.example/scimtrail"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (_FILE, RelayPlacement.CHILD),
        (_MEMORY, RelayPlacement.INPROCESS),
        (_SHARED_MEMORY, RelayPlacement.INPROCESS),
        (_POSTGRES, RelayPlacement.INPROCESS),
    ],
)
def test_the_default_follows_the_database(url: str, expected: RelayPlacement) -> None:
    assert Settings.from_env({"SCIMTRAIL_DATABASE_URL": url}).relay is expected
    assert Settings.from_env({}, database_url=url).relay is expected


@pytest.mark.parametrize(
    ("value", "url", "expected"),
    [
        ("child", _FILE, RelayPlacement.CHILD),
        ("inprocess", _FILE, RelayPlacement.INPROCESS),
        ("EXTERNAL", _POSTGRES, RelayPlacement.EXTERNAL),
        (" off ", _MEMORY, RelayPlacement.OFF),
        ("inprocess", _POSTGRES, RelayPlacement.INPROCESS),
    ],
)
def test_a_chosen_placement(value: str, url: str, expected: RelayPlacement) -> None:
    settings = Settings.from_env({"SCIMTRAIL_RELAY": value, "SCIMTRAIL_DATABASE_URL": url})
    assert settings.relay is expected


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SCIMTRAIL_RELAY": "process"}, "SCIMTRAIL_RELAY='process': expected one of child, inprocess, external, off"),
        (
            {"SCIMTRAIL_RELAY": "child", "SCIMTRAIL_DATABASE_URL": _MEMORY},
            "SCIMTRAIL_RELAY=child: an in-memory database",
        ),
        (
            {"SCIMTRAIL_RELAY": "external", "SCIMTRAIL_DATABASE_URL": _SHARED_MEMORY},
            "SCIMTRAIL_RELAY=external: an in-memory",
        ),
        (
            {"SCIMTRAIL_RELAY": "child", "SCIMTRAIL_DATABASE_URL": _POSTGRES},
            "SCIMTRAIL_RELAY=child is for a SQLite file",
        ),
        ({"SCIMTRAIL_RUN_RELAY": "false"}, "SCIMTRAIL_RUN_RELAY is replaced by SCIMTRAIL_RELAY"),
        ({"SCIMTRAIL_RELAY_PROCESS": "false"}, "SCIMTRAIL_RELAY_PROCESS is replaced by SCIMTRAIL_RELAY"),
        ({"SCIMTRAIL_MAX_BODY_BYTES": "1MB"}, "SCIMTRAIL_MAX_BODY_BYTES='1MB': expected a whole number"),
    ],
)
def test_a_setting_that_cannot_work_is_refused_in_one_line(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env(env)
    assert str(refused.value).startswith(message)
    assert "\n" not in str(refused.value)
