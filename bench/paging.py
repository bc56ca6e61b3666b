"""Paging over 100,000 users: a deep index page and cursor pages (RFC 9865).

    .venv/bin/python bench/paging.py [--users 100000] [--requests 50]

``GET /Users?startIndex=90001&count=100`` is asked repeatedly (totalResults included, as the
RFC requires). Cursor paging follows ``nextCursor`` from the first page; to time cursor pages
deep in the collection too, the walk goes on for ``--walk`` pages (default: all of them).

Targets (issue #2): both under 20 ms.
"""

from __future__ import annotations

import argparse
import time

import orjson
from _harness import machine_note, parse_args, say
from _scimtrail import Client, Dataset, Figure, Latency, build_dataset, report, sample, serving


def measure(dataset: Dataset, port: int, requests: int, walk: int | None) -> list[Figure]:
    client = Client(port, dataset.token)
    # startIndex=90001 at 100,000 users; the last page on smaller sets.
    start = dataset.users - 9_999 if dataset.users > 10_000 else max(dataset.users - 99, 1)
    try:
        deep = sample(client, [("GET", f"/scim/v2/Users?startIndex={start}&count=100", None)] * (requests + 5))
        deep = Latency(deep.samples[5:])
        first = sample(client, [("GET", "/scim/v2/Users?startIndex=1&count=100", None)] * requests)

        stored = dataset.users + len(dataset.joiners)
        pages = walk if walk is not None else stored // 100 + 2
        cursor, samples, seen = "", [], 0
        ids: set[str] = set()
        t0 = time.monotonic()
        for _ in range(pages):
            status, body, ms = client.time("GET", f"/scim/v2/Users?count=100&cursor={cursor}")
            if status != 200:
                raise RuntimeError(f"cursor page -> {status}: {body[:300]!r}")
            page = orjson.loads(body)
            samples.append(ms)
            seen += len(page.get("Resources", []))
            ids.update(r["id"] for r in page.get("Resources", []))
            cursor = page.get("nextCursor")
            if not cursor:
                break
        walked = Latency(tuple(samples))
        elapsed = time.monotonic() - t0
    finally:
        client.close()
    say(f"GET /Users?startIndex={start}&count=100: {deep.line()}")
    say(f"GET /Users?startIndex=1&count=100:     {first.line()}")
    say(
        f"cursor walk, count=100: {walked.line()}; {seen:,} users ({len(ids):,} distinct) in {len(samples)} pages, {elapsed:.1f}s"
    )
    return [
        Figure(
            f"deep page startIndex={start} ({dataset.users:,} users), p50",
            f"{deep.p50:.2f} ms",
            "< 20 ms",
            deep.p50 < 20,
        ),
        Figure("first page startIndex=1, p50", f"{first.p50:.2f} ms", "—", None),
        Figure("cursor page count=100, p50 over the whole walk", f"{walked.p50:.2f} ms", "< 20 ms", walked.p50 < 20),
        Figure("cursor page, p99 over the whole walk", f"{walked.pct(0.99):.2f} ms", "—", None),
        Figure(
            "cursor walk returned every stored user exactly once",
            f"{seen:,} ({len(ids):,} distinct)",
            f"{stored:,}",
            (seen == len(ids) == stored) if walk is None else None,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--walk", type=int, default=None, help="cursor pages to follow (default: all)")
    args = parse_args(parser, users=300, requests=5)
    say(machine_note())
    dataset = build_dataset(args.users)
    try:
        with serving(dataset) as server:
            figures = measure(dataset, server.port, args.requests, args.walk)
    finally:
        dataset.remove()
    report("Paging against the issue's targets", figures)


if __name__ == "__main__":
    main()
