"""Every figure of issue #2's Performance section, in one run, with a summary table.

    .venv/bin/python bench/run_all.py [--quick]

1. POST /Users against scim2-server (fresh database; see post_users.py).
2. One database of 100,000 users, a group of all of them, a group of 10 and some joiners, one
   server process: filtered GET, deep and cursor paging, group membership, and finally the
   memory exercise, whose peak RSS therefore covers the whole run.

About 6 minutes with the defaults (``--quick``: about 2). Every wrk run is bounded (10 s by
default) and every server is stopped by its PID. ``--smoke`` leaves out step 1, which is
``post_users.py``'s own code and smoke run.
"""

from __future__ import annotations

import argparse

import filter_get
import group_members
import memory
import paging
import post_users
from _harness import machine_note, parse_args, say
from _scimtrail import Figure, build_dataset, report, serving


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter runs, fewer samples")
    parser.add_argument("--users", type=int, default=100_000)
    args = parse_args(parser, users=200)
    seconds, rounds, requests = (1, 1, 10) if args.smoke else (5, 1, 50) if args.quick else (10, 3, 200)

    say(machine_note())
    figures: list[Figure] = []
    if not args.smoke:
        say("\n== POST /Users vs scim2-server ==")
        figures += post_users.measure(seconds, rounds, 16)

    dataset = build_dataset(args.users, joiners=2 * requests + 80, groups={"big": args.users, "small": 10})
    try:
        with serving(dataset) as server:

            def rss(after: str) -> None:
                current, peak = server.rss_kib()
                say(f"   server RSS after {after}: {current // 1024} MB (peak so far {peak // 1024} MB)")

            rss("start")
            say("\n== GET filtered ==")
            figures += filter_get.measure(dataset, server.port, 5 * requests, seconds, server)
            rss("filtered GETs")
            say("\n== paging ==")
            figures += paging.measure(dataset, server.port, requests // 4, None)
            rss("paging")
            say("\n== group membership ==")
            figures += group_members.measure(dataset, server.port, requests, server=server)
            rss("group membership")
            say("\n== memory ==")
            figures += memory.exercise(dataset, server, seconds)
    finally:
        dataset.remove()
    say()
    say(machine_note())
    report("Issue #2 performance figures", figures)


if __name__ == "__main__":
    main()
