"""Where the audit relay runs (``SCIMTRAIL_RELAY``), and the one module that knows about its child.

The relay seals the outbox into the hash-chained log, signs checkpoints, purges by retention and
delivers log streams. :class:`~scim_server.settings.RelayPlacement` says where, resolved once
in :class:`~scim_server.settings.Settings`:

- ``child`` (the default on a SQLite file): ``scimtrail serve`` starts ``scimtrail relay
  --parent-pid`` beside itself (:class:`RelayChild`), restarts it if it fails and stops it on the
  way out. Sealing costs CPU on every audited write; in the server's process it shares the one
  core the event loop runs on, in a child it runs on another. On SQLite the sealed log is a file
  of its own that only the sealer writes, so the child never makes a SCIM commit wait. Why, with
  the figures: ``docs/decisions/0003-relay-child-process-and-log-file.md``.
- ``inprocess`` (the default on PostgreSQL and in-memory SQLite): on the server's event loop.
- ``external``: the server runs none; an operator runs ``scimtrail relay`` (docker-compose.yml).
- ``off``: nobody seals. The outbox only grows: for benchmarks and tests.

Whenever the sealer is not in the server's process on SQLite, it writes only the log's file, and
the server deletes what was sealed from the outbox (in the main file) from its own side.

The child's counters (sealed events, seal lag, deliveries) live in the child; it writes them to a
file every second and the server serves that file's text at ``/metrics`` in place of its own idle
relay collectors, so ``/metrics`` shows the same series wherever the relay runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import structlog

import audit

from .secret_key import resolve_secret_key
from .settings import RelayPlacement, Settings
from .storage.engine import Database

__all__ = ["RelayChild", "ServerRelay", "prune_interval", "run_relay"]

_log = structlog.get_logger("scimtrail")
_METRICS = "metrics.prom"
#: How long the child has to seal what is pending, sign a checkpoint and release its lease.
_STOP_TIMEOUT = 15.0
#: How often an orphaned child notices; a restarted server's relay waits no longer on its lease.
_PARENT_CHECK_SECONDS = 0.5
_METRICS_INTERVAL = 1.0


class ServerRelay:
    """The relay as ``scimtrail serve`` runs it for its placement: on its own loop, as a supervised
    child, or not at all, plus, on SQLite with the sealer elsewhere, the outbox pruner."""

    def __init__(self, settings: Settings, db: Database, relay: audit.Relay) -> None:
        self.placement = settings.relay
        self._db = db
        self._relay = relay
        self._child = RelayChild(settings) if self.placement is RelayPlacement.CHILD else None
        self._pruner: asyncio.Task[None] | None = None

    def metrics(self) -> bytes | None:
        """The relay's counters as the child last wrote them; None when this process's own
        relay collectors are the ones to serve (in-process, or no relay here at all)."""
        return self._child.metrics() if self._child is not None else None

    async def start(self) -> None:
        if self.placement is RelayPlacement.INPROCESS:
            await self._relay.start()
        elif self._child is not None:
            await self._child.start()
        elif self.placement is RelayPlacement.OFF:
            _log.warning(
                "audit relay off: events are recorded in the outbox and never sealed (for benchmarks and tests)"
            )
        if self.placement is not RelayPlacement.INPROCESS and self._db.dialect == "sqlite":
            # The sealer is elsewhere and writes only the log's file: what it sealed leaves the
            # outbox from this side.
            self._pruner = asyncio.create_task(audit.prune_outbox_forever(self._db), name="audit-outbox-pruner")

    async def stop(self) -> None:
        pruner, self._pruner = self._pruner, None
        if pruner is not None:
            pruner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pruner
        if self.placement is RelayPlacement.INPROCESS:
            await self._relay.stop()
        elif self._child is not None:
            await self._child.stop()


# ---- the supervisor: the child as the server sees it --------------------------------------------


def _child_environment(settings: Settings) -> dict[str, str]:
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


class RelayChild:
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
            env=_child_environment(self._settings),
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


# ---- the entry point: what `scimtrail relay` runs, as the child or on its own ------------------


def prune_interval(parent_pid: int | None) -> float | None:
    """How often the relay prunes the outbox itself. Never as a server's child: the server prunes
    from its side, so the child writes only the sealed log's file, never the one the server writes."""
    return None if parent_pid else 1.0


async def run_relay(relay: audit.Relay, *, parent_pid: int | None = None, metrics_file: str | None = None) -> None:
    """Run ``relay`` until SIGTERM or SIGINT, or, started by the server with ``parent_pid``, until
    that server is gone (killed without a word: the relay seals what is pending before it stops).
    With ``metrics_file``, write the relay's counters there every second, and once more at the end."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await relay.start()
    metrics = asyncio.create_task(_write_metrics_forever(metrics_file), name="relay-metrics") if metrics_file else None
    try:
        if parent_pid:
            # An orphan is adopted by another process: its parent pid changes.
            while os.getppid() == parent_pid and not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), _PARENT_CHECK_SECONDS)
        else:
            await stop.wait()
    finally:
        await relay.stop()
        if metrics is not None and metrics_file:
            metrics.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await metrics
            _write_metrics(metrics_file)


# ---- the metrics hand-off: the child writes, the server reads (RelayChild.metrics) -------------


def _write_metrics(path: str) -> None:
    """The relay's counters, replaced whole (a reader never sees half a file)."""
    partial = f"{path}.partial"
    with open(partial, "wb") as handle:
        handle.write(audit.relay_metrics_exposition())
    os.replace(partial, path)


async def _write_metrics_forever(path: str) -> None:
    while True:
        try:
            _write_metrics(path)
        except OSError as exc:
            _log.warning("relay metrics not written", path=path, error=str(exc))
        await asyncio.sleep(_METRICS_INTERVAL)
