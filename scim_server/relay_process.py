"""The audit relay in a process of its own, started and stopped with the server.

Sealing costs CPU on every audited write: building each event's chain link, its search words,
and the B-tree inserts of the log. In the server's process that work shares the one core the
event loop runs on (Python threads share one interpreter lock), and the server's throughput pays
for it. On embedded SQLite the log is a file of its own (``storage.engine.log_database``) that
only the sealer writes, so a sealer in another process takes nothing from the server's core and
never makes it wait: ``scimtrail serve`` starts ``scimtrail relay --parent-pid`` beside itself,
and prunes the outbox of what it sealed from its own side (``audit.prune_outbox_forever``).

The child follows the server's settings (passed in its environment), stops with it, and stops
by itself within half a second if the server dies without telling it (``--parent-pid``), so a
restarted server's relay never waits long on a lease nobody renews.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

import structlog
from sqlalchemy import make_url

from .secret_key import resolve_secret_key
from .settings import Settings

__all__ = ["RelayProcess", "runs_apart"]

_log = structlog.get_logger("scimtrail")
_METRICS = "metrics.prom"
#: How long the child has to seal what is pending, sign a checkpoint and release its lease.
_STOP_TIMEOUT = 15.0


def runs_apart(settings: Settings) -> bool:
    """Whether this server's relay runs in a process of its own: the embedded default, on a
    SQLite file (an in-memory database cannot be shared with another process)."""
    if not (settings.run_relay and settings.relay_process and settings.is_sqlite):
        return False
    database = make_url(settings.database_url).database or ""
    return database not in ("", ":memory:") and "mode=memory" not in database


def _environment(settings: Settings) -> dict[str, str]:
    """The server's settings as the child reads them (``Settings.from_env``)."""
    env = dict(os.environ)
    env.update(
        {
            "SCIMTRAIL_DATABASE_URL": settings.database_url,
            # Resolved here, so a key generated for this server is the one the child signs with.
            "SCIMTRAIL_SECRET_KEY": resolve_secret_key(settings),
            "SCIMTRAIL_LOG_FORMAT": settings.log_format,
            "SCIMTRAIL_LOG_LEVEL": settings.log_level,
            "SCIMTRAIL_STREAMS_ALLOW_PRIVATE_NETWORKS": "true" if settings.streams_allow_private_networks else "false",
            "SCIMTRAIL_STREAMS_ALLOWED_NETWORKS": ",".join(str(n) for n in settings.streams_allowed_networks),
        }
    )
    return env


class RelayProcess:
    """``scimtrail relay --parent-pid <this process>`` as a child of the server, started again
    (after a pause that grows with repeated failures) if it ever exits on its own with an error."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._process: asyncio.subprocess.Process | None = None
        self._metrics_dir: Path | None = None
        self._supervisor: asyncio.Task[None] | None = None

    def metrics(self) -> bytes:
        """The child's Prometheus counters as it last wrote them (nothing before the first write)."""
        if self._metrics_dir is None:
            return b""
        try:
            return (self._metrics_dir / _METRICS).read_bytes()
        except OSError:
            return b""

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def start(self) -> None:
        self._metrics_dir = Path(tempfile.mkdtemp(prefix="scimtrail-relay-"))
        await self._spawn()
        self._supervisor = asyncio.create_task(self._supervise(), name="relay-process-supervisor")

    async def stop(self) -> None:
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
        process, self._process = self._process, None
        try:
            if process is not None and process.returncode is None:
                await self._stop(process)
        finally:
            if self._metrics_dir is not None:
                shutil.rmtree(self._metrics_dir, ignore_errors=True)

    async def _spawn(self) -> None:
        assert self._metrics_dir is not None
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "scim_server.cli",
            "relay",
            "--parent-pid",
            str(os.getpid()),
            "--metrics-file",
            str(self._metrics_dir / _METRICS),
            env=_environment(self._settings),
            stdin=asyncio.subprocess.DEVNULL,
        )
        _log.info("relay process started", pid=self._process.pid)

    async def _supervise(self) -> None:
        delay = 1.0
        while True:
            assert self._process is not None
            started = asyncio.get_running_loop().time()
            code = await self._process.wait()
            if code == 0:
                # Asked to stop (a terminal's Ctrl-C reaches it too): the server is stopping.
                return
            _log.error("relay process exited; starting it again", code=code, retry_in=delay)
            await asyncio.sleep(delay)
            # A child that ran a good while before failing starts the backoff afresh.
            ran_long = asyncio.get_running_loop().time() - started > 60
            delay = 1.0 if ran_long else min(delay * 2, 30.0)
            await self._spawn()

    async def _stop(self, process: asyncio.subprocess.Process) -> None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), _STOP_TIMEOUT)
        except TimeoutError:
            _log.warning("relay process did not stop in time; killed", pid=process.pid)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
