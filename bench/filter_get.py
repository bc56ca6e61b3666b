"""GET /Users?filter=userName eq "…" over 100,000 users: per-request latency.

    .venv/bin/python bench/filter_get.py [--users 100000] [--requests 1000]

One client on a keep-alive connection asks for random seeded users one at a time (the latency
an IdP's lookup-before-create sees); then wrk with 16 connections and ``lua/get_filter.lua``
gives the throughput and tail under load.

Target (issue #2): p50 < 3 ms.
"""

from __future__ import annotations

import argparse
import random
from urllib.parse import quote

from _harness import machine_note, parse_args, say, wrk
from _scimtrail import Client, Dataset, Figure, build_dataset, report, sample, serving
from _seed import user_name


def measure(dataset: Dataset, port: int, requests: int, seconds: int, server: object = None) -> list[Figure]:
    rng = random.Random(11)
    client = Client(port, dataset.token)
    try:
        path = "/scim/v2/Users?filter="
        sample(client, [("GET", path + quote(f'userName eq "{user_name(i)}"'), None) for i in range(50)])  # warm
        lat = sample(
            client,
            [
                ("GET", path + quote(f'userName eq "{user_name(rng.randrange(dataset.users))}"'), None)
                for _ in range(requests)
            ],
        )
    finally:
        client.close()
    say(f'GET /Users?filter=userName eq "…", sequential: {lat.line()}')
    load = wrk(
        f"http://127.0.0.1:{port}",
        script="get_filter.lua",
        env={"BENCH_PATH": "/scim/v2/Users", "BENCH_TOKEN": dataset.token, "BENCH_USERS": str(dataset.users)},
        seconds=seconds,
        server=server,  # type: ignore[arg-type]
    )
    say(f"  under wrk -t1 -c16 -d{seconds}s: {load.line()}")
    return [
        Figure(f"filter userName eq, p50 ({dataset.users:,} users)", f"{lat.p50:.2f} ms", "< 3 ms", lat.p50 < 3),
        Figure("filter userName eq, p99 (sequential)", f"{lat.pct(0.99):.2f} ms", "—", None),
        Figure("filter userName eq at 16 clients", f"{load.rps:.0f} req/s, p99 {load.p99_ms:.1f} ms", "—", None),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=10)
    args = parse_args(parser, users=200, requests=50, seconds=1)
    say(machine_note())
    dataset = build_dataset(args.users)
    try:
        with serving(dataset) as server:
            figures = measure(dataset, server.port, args.requests, args.seconds, server)
    finally:
        dataset.remove()
    report("GET filtered against the issue's targets", figures)


if __name__ == "__main__":
    main()
