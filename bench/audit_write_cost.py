"""What the audit trail costs SQLite per event: CPU and bytes written, recording alone and in full.

    .venv/bin/python bench/audit_write_cost.py [--events 60000] [--rounds 2] [--drop INDEX ...] [--sql STATEMENT ...]

No HTTP and no event loop: one thread drives the product's own audit statements (the outbox
insert, sealing) on a copy of a fresh scimtrail database and its log file with the server's
pragmas, the way the server and the relay run them under load: outbox inserts committed a few
requests at a time (group commit), a sealing transaction on the log's file every
``--seal-every`` events, the search index fed and the sealed outbox rows pruned every 1,700
events (about a second at full write rate), and a passive WAL checkpoint every 170 (the
checkpointer's 0.1 s). Three modes, interleaved round by round:

- ``none``: the same commits with nothing in them (the floor);
- ``record``: outbox inserts only;
- ``full``: recording, sealing, indexing, pruning.

Reported per event: CPU (``process_time``, the checkpoint's included) and bytes handed to
``write``/``pwrite`` (``wchar`` in ``/proc/self/io``: the WAL and the checkpoint's copies).
``--drop`` removes an index from the copy first, to price it; ``--sql`` runs any statement on it
(a leaner table, say). The machine's drift matters less
here than over HTTP, but compare modes and variants within one run.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

from _harness import machine_note, parse_args, say, table
from _scimtrail import build_dataset

from audit import LOCK_LOG, LOG_SCHEMA, search_index
from audit.backends.sqlite import insert_rows as _insert_sqlite
from audit.events import Actor, EventDraft, RequestContext, Target
from audit.outbox import _row
from audit.sealing.watermark import seal_sqlite as _seal_sqlite
from scim_server.storage.engine import WRITER_CACHE_KIB, log_database

_INDEX_EVERY = 1_700
_CHECKPOINT_EVERY = 170
#: What ``audit.prune_outbox`` deletes: outbox rows the sealer has moved its watermark past.
_PRUNE = f"DELETE FROM audit_outbox WHERE pk < (SELECT outbox_through FROM {LOG_SCHEMA}.audit_seal_state)"


def _drafts(n: int, tag: str) -> Iterator[EventDraft]:
    for i in range(n):
        # Targets in random order, as new users' emails arrive: their index leaves are random too.
        yield EventDraft(
            organization="bench",
            action="user.provisioned",
            actor=Actor("scim_token", "default"),
            targets=(Target("user", f"user{tag}-{i * 7919 % n}@bench.example"),),
            context=RequestContext(ip="127.0.0.1", user_agent="wrk/4", request_id=f"req_{tag}{i:010d}"),
        )


def _written() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    return 0


def _index(conn: sqlite3.Connection, batch: int) -> None:
    """What the relay's ``index`` does (``audit.search_index.index_sealed`` in transactions of
    ``batch`` events until none is left), with the module's own statements, on sqlite3."""
    while True:
        conn.execute("BEGIN")
        conn.execute(LOCK_LOG)
        through = conn.execute(search_index._WATERMARK.text).fetchone()[0]
        upto = conn.execute(search_index._UPTO.text, {"through": through, "limit": batch}).fetchone()[0]
        if upto is not None:
            for statement in (search_index._INDEX, search_index._INDEX_TARGETS):
                conn.execute(statement.text, {"through": through, "upto": upto})
            conn.execute(search_index._ADVANCE.text, {"upto": upto})
        conn.execute("COMMIT")
        if upto is None:
            return


def run(template: Path, scratch: Path, mode: str, tag: str, args: argparse.Namespace) -> tuple[float, float]:
    """One pass; returns (CPU µs per event, bytes written per event)."""
    db, log = scratch / f"{mode}.db", Path(log_database(str(scratch / f"{mode}.db")))
    for path, source in ((db, template), (log, Path(log_database(str(template))))):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        shutil.copy(source, path)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute(f"ATTACH DATABASE ? AS {LOG_SCHEMA}", (str(log),))
    for schema in ("main", LOG_SCHEMA):
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "wal_autocheckpoint=10000"):
            conn.execute(f"PRAGMA {schema}.{pragma}")
    conn.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
    for index in args.drop:
        conn.execute(f"DROP INDEX {index}")
    for statement in args.sql:
        conn.execute(statement)
    checkpointer = sqlite3.connect(db, isolation_level=None)
    checkpointer.execute(f"ATTACH DATABASE ? AS {LOG_SCHEMA}", (str(log),))
    rows = [_row(d) for d in _drafts(args.events, tag)]
    group = args.group
    written, started = _written(), time.process_time()
    for i, row in enumerate(rows, 1):
        if i % group == 1 or group == 1:
            # The server's group commit: the main file's lock only (storage.engine's write lock).
            conn.execute("BEGIN")
            conn.execute("DELETE FROM main.scimtrail_write_lock WHERE 0")
        if mode != "none":
            _insert_sqlite(conn, [row])
        if i % group:
            continue
        conn.execute("COMMIT")
        if mode == "full" and i % args.seal_every < group:
            # The relay's sealing transaction: the log file's lock only, as a host's seal() (audit.AuditHost).
            conn.execute("BEGIN")
            conn.execute(LOCK_LOG)
            _seal_sqlite(conn, 500)
            conn.execute("COMMIT")
        if mode == "full" and i % _INDEX_EVERY < group:
            _index(conn, args.index_batch)
            conn.execute(_PRUNE)
        if i % _CHECKPOINT_EVERY < group:
            checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    if conn.in_transaction:
        conn.execute("COMMIT")
    cpu, out = time.process_time() - started, _written() - written
    if mode == "full":
        # The run priced what it claims: the events were sealed and the search index fed.
        sealed = conn.execute("SELECT count(*) FROM audit_events").fetchone()[0]
        indexed = conn.execute(search_index._WATERMARK.text).fetchone()[0]
        if sealed < args.events - args.seal_every - args.group or not indexed:
            raise SystemExit(f"full mode sealed {sealed} events and indexed through pk {indexed}")
    conn.close()
    checkpointer.close()
    return cpu / args.events * 1e6, out / args.events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--group", type=int, default=6, help="requests per group commit")
    parser.add_argument(
        "--seal-every",
        type=int,
        default=85,
        help="events per sealing batch (85: 50 ms at ~1,700 events/s; the relay seals at most every 80 ms)",
    )
    parser.add_argument("--drop", action="append", default=[], metavar="INDEX", help="drop this index first")
    parser.add_argument(
        "--index-batch", type=int, default=search_index.INDEX_BATCH, help="events per indexing transaction"
    )
    parser.add_argument(
        "--sql", action="append", default=[], metavar="STATEMENT", help="run this on the copy first (after --drop)"
    )
    args = parse_args(parser, events=2_000, rounds=1)
    say(machine_note())
    dataset = build_dataset(0)
    template = dataset.directory / "scimtrail.db"
    modes = ("none", "record", "full")
    results: dict[str, list[tuple[float, float]]] = {m: [] for m in modes}
    try:
        for r in range(args.rounds):
            for mode in modes:
                results[mode].append(run(template, dataset.directory, mode, f"{r}{mode[0]}", args))
                cpu, out = results[mode][-1]
                say(f"  round {r + 1} {mode:6s} {cpu:6.1f} µs CPU/event  {out:7.0f} bytes written/event")
    finally:
        dataset.remove()
    say()
    say(
        f"{args.events:,} events per pass, group commit of {args.group}, sealing every {args.seal_every}; dropped: {args.drop or 'none'}; sql: {args.sql or 'none'}"
    )
    say(
        table(
            ["mode", "CPU µs/event (median)", "bytes written/event (median)"],
            [
                [
                    m,
                    f"{statistics.median(c for c, _ in results[m]):.1f}",
                    f"{statistics.median(b for _, b in results[m]):.0f}",
                ]
                for m in modes
            ],
        )
    )


if __name__ == "__main__":
    main()
