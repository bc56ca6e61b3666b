"""Peak RSS of the server while it serves the benchmarks with 100,000 users stored.

    .venv/bin/python bench/memory.py [--users 100000] [--seconds 10]

One server process over a database of 100,000 users (and a group holding all of them) serves,
in turn: filtered GETs under wrk, a deep index page and a cursor walk over every user, member
PATCHes on the big group, a GET of the big group with its members, and POST /Users under wrk.
The figure is the kernel's high-water mark of the process's resident set (VmHWM).

Target (issue #2): peak RSS < 200 MB.
"""

from __future__ import annotations

import argparse
import uuid

import filter_get
import group_members
import paging
from _harness import Server, machine_note, parse_args, say, wrk
from _scimtrail import Client, Dataset, Figure, build_dataset, report, sample, serving


def exercise(dataset: Dataset, server: Server, seconds: int) -> list[Figure]:
    """Everything the other benchmarks do, briefly, on one process; then its peak RSS."""
    filter_get.measure(dataset, server.port, 200, seconds, server)
    paging.measure(dataset, server.port, 10, 200)
    group_members.measure(dataset, server.port, 20, budget_s=20, server=server)
    env = {"BENCH_PATH": "/scim/v2/Users", "BENCH_TOKEN": dataset.token, "BENCH_TAG": uuid.uuid4().hex[:10]}
    posts = wrk(f"http://127.0.0.1:{server.port}", script="post_users.lua", env=env, seconds=seconds, server=server)
    say(f"POST /Users under wrk -t1 -c16 -d{seconds}s: {posts.line()}")
    current, peak = server.rss_kib()
    say(f"server RSS now {current // 1024} MB, peak {peak // 1024} MB")
    # Outside the benchmark, so measured after its figure: what one GET of a group with
    # every member costs in time and memory (an IdP that omits excludedAttributes=members).
    client = Client(server.port, dataset.token)
    try:
        full = sample(client, [("GET", f"/scim/v2/Groups/{dataset.groups['big']}", None)] * 3)
    finally:
        client.close()
    after = server.rss_kib()[1]
    say(f"GET /Groups/{{big}} with all {dataset.users:,} members: {full.line()}; peak RSS after it {after // 1024} MB")
    return [
        Figure(
            f"peak RSS serving with {dataset.users:,} users stored", f"{peak // 1024} MB", "< 200 MB", peak < 200 * 1024
        ),
        Figure(
            f"GET group with all {dataset.users:,} members (extra)",
            f"p50 {full.p50:.0f} ms, peak RSS after {after // 1024} MB",
            "—",
            None,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=10)
    args = parse_args(parser, users=200, seconds=1)
    say(machine_note())
    dataset = build_dataset(args.users, joiners=60, groups={"big": args.users, "small": 10})
    try:
        with serving(dataset) as server:
            figures = exercise(dataset, server, args.seconds)
    finally:
        dataset.remove()
    report("Memory against the issue's target", figures)


if __name__ == "__main__":
    main()
