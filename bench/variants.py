"""A proposed change to the product against the product as shipped, side by side.

    .venv/bin/python bench/variants.py [--variant seal-linger] [--users 100000] [--seconds 8] [--rounds 3]

Two servers over two identical seeded databases: ``scimtrail serve`` as shipped, and the same
with one change applied at start (``tools/serve_variant.py``). Measured alternately:

- POST /Users under wrk -t1 -c16 (fresh userNames), rounds interleaved;
- ``GET /Users?filter=userName eq`` one at a time, the two servers request by request;
- ``GET /Users?startIndex=…&count=100`` on the deep page, likewise;
- PATCH adding one member to a 10-member group (``?excludedAttributes=members``), likewise.

Reported: throughput, latency and server CPU per request for both, and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
from urllib.parse import quote

from _harness import WrkResult, machine_note, post_users, say, table
from _scimtrail import Client, Latency, build_dataset, our_server
from _seed import user_id, user_name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="seal-linger")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    say(machine_note())

    names = ("as shipped", args.variant)
    datasets = {n: build_dataset(args.users, joiners=args.requests + 20, groups={"small": 10}) for n in names}
    servers = {n: our_server(datasets[n], variant=None if n == "as shipped" else n) for n in names}
    posts: dict[str, list[WrkResult]] = {n: [] for n in names}
    lat: dict[str, dict[str, list[float]]] = {n: {"filter": [], "deep": [], "patch": []} for n in names}
    cpu: dict[str, dict[str, float]] = {n: {} for n in names}
    try:
        for server in servers.values():
            server.start(timeout=120)
        clients = {n: Client(servers[n].port, datasets[n].token) for n in names}
        deep = max(args.users - 9_999, 1) if args.users > 10_000 else max(args.users - 99, 1)
        joiners = list(datasets[names[0]].joiners)

        def request(kind: str, i: int) -> tuple[str, str, object]:
            if kind == "filter":
                n = (i * 7919) % args.users
                return "GET", "/scim/v2/Users?filter=" + quote(f'userName eq "{user_name(n)}"'), None
            if kind == "deep":
                return "GET", f"/scim/v2/Users?startIndex={deep}&count=100", None
            body = {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add", "path": "members", "value": [{"value": user_id(joiners[i])}]}],
            }
            return "PATCH", "/scim/v2/Groups/{gid}?excludedAttributes=members", body

        for kind, n in (("filter", args.requests), ("deep", max(args.requests // 10, 10)), ("patch", args.requests)):
            before = {m: servers[m].cpu_seconds() for m in names}
            for i in range(n):
                for m in names:
                    method, path, body = request(kind, i)
                    path = path.replace("{gid}", datasets[m].groups["small"])
                    status, data, ms = clients[m].time(method, path, body)
                    if status >= 300:
                        raise RuntimeError(f"{m} {kind}: {status} {data[:200]!r}")
                    lat[m][kind].append(ms)
            for m in names:
                cpu[m][kind] = (servers[m].cpu_seconds() - before[m]) * 1000 / n
        for c in clients.values():
            c.close()

        for r in range(args.rounds):
            for m in names:
                res = post_users(servers[m], datasets[m].token, seconds=args.seconds)
                posts[m].append(res)
                say(f"  round {r + 1} POST /Users {m:14s} {res.line()}")
    finally:
        for server in servers.values():
            server.stop()
        for dataset in datasets.values():
            dataset.remove()

    a, b = names
    rows = []
    for kind, label in (("filter", 'GET filter userName eq "…"'), ("deep", f"GET startIndex={deep}&count=100"), ("patch", "PATCH add member (group of 10)")):
        la, lb = Latency(tuple(lat[a][kind])), Latency(tuple(lat[b][kind]))
        rows.append(
            [label, f"{la.p50:.2f} ms / {cpu[a][kind]:.2f} ms", f"{lb.p50:.2f} ms / {cpu[b][kind]:.2f} ms", f"{la.p50 / lb.p50:.2f}× / {cpu[a][kind] / cpu[b][kind]:.2f}×"]
        )
    pa = sorted(posts[a], key=lambda x: x.rps)[len(posts[a]) // 2]
    pb = sorted(posts[b], key=lambda x: x.rps)[len(posts[b]) // 2]
    rows.append(
        [
            "POST /Users at 16 clients (req/s, p99 / CPU)",
            f"{pa.rps:.0f} req/s, p99 {pa.p99_ms:.0f} ms / {pa.cpu_ms:.2f} ms",
            f"{pb.rps:.0f} req/s, p99 {pb.p99_ms:.0f} ms / {pb.cpu_ms:.2f} ms",
            f"{statistics.median(x.rps for x in posts[b]) / statistics.median(x.rps for x in posts[a]):.2f}× req/s",
        ]
    )
    say()
    say(f"{args.users:,} users; sequential requests interleaved between the servers; p50 latency / server CPU per request")
    say(table(["measure", a, b, "gain"], rows))


if __name__ == "__main__":
    main()
