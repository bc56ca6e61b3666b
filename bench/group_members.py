"""Group membership at scale: PATCH one member into a group of 100,000 vs a group of 10.

    .venv/bin/python bench/group_members.py [--members 100000] [--requests 200]

The database holds 100,000 users, a group whose members are all of them, a group of 10, and
a pool of "joiner" users in no group. Each round adds the next joiner to both groups (a
standard RFC 7644 PatchOp ``add`` on ``members``, as Okta and Entra send it), alternating big
and small request by request. Then ``GET /Groups/{id}?excludedAttributes=members`` on both.

The plain PATCH is what IdPs send (no query parameters). The same PATCH with
``?excludedAttributes=members`` is measured beside it, to show what the response costs.

Targets (issue #2): PATCH on 100,000 within 1.5× of PATCH on 10; the GET likewise size-independent.
"""

from __future__ import annotations

import argparse

from _harness import Server, machine_note, parse_args, say
from _scimtrail import Client, Dataset, Figure, Latency, build_dataset, interleaved, report, serving
from _seed import user_id

PATCH_OK = (200, 204)


def _add(uid: str) -> dict[str, object]:
    return {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": uid}]}],
    }


def measure(
    dataset: Dataset, port: int, requests: int, budget_s: float = 45.0, server: Server | None = None
) -> list[Figure]:
    big, small = dataset.groups["big"], dataset.groups["small"]
    size = dataset.users
    joiners = iter(dataset.joiners)
    client = Client(port, dataset.token)
    figures: list[Figure] = []
    try:

        def patch(gid: str, query: str = "") -> object:
            def make(i: int) -> tuple[str, str, object]:
                # The same joiner goes into both groups in one round (it is in neither yet).
                return "PATCH", f"/scim/v2/Groups/{gid}{query}", _add(user_id(rounds[i]))

            return make

        def take(n: int) -> list[int]:
            return [next(joiners) for _ in range(n)]

        rounds = take(5)
        interleaved(
            client, {"small": patch(small), "big": patch(big, "?excludedAttributes=members")}, 5, expect=PATCH_OK
        )

        rounds = take(requests)
        lean = interleaved(
            client,
            {"small": patch(small, "?excludedAttributes=members"), "big": patch(big, "?excludedAttributes=members")},
            requests,
            expect=PATCH_OK,
            budget_s=budget_s,
        )
        if server is not None:
            say(f"   server peak RSS before the plain PATCHes: {server.rss_kib()[1] // 1024} MB")
        rounds = take(requests)
        plain = interleaved(
            client, {"small": patch(small), "big": patch(big)}, requests, expect=PATCH_OK, budget_s=budget_s
        )

        if server is not None:
            say(f"   server peak RSS after the plain PATCHes: {server.rss_kib()[1] // 1024} MB")
        get = interleaved(
            client,
            {
                "small": lambda i: ("GET", f"/scim/v2/Groups/{small}?excludedAttributes=members", None),
                "big": lambda i: ("GET", f"/scim/v2/Groups/{big}?excludedAttributes=members", None),
            },
            requests,
            budget_s=budget_s,
        )
    finally:
        client.close()

    def line(label: str, res: dict[str, Latency]) -> float:
        ratio = res["big"].p50 / res["small"].p50
        say(f"{label}")
        say(f"  group of 10:        {res['small'].line()}")
        say(f"  group of {size:,}: {res['big'].line()}")
        say(f"  ratio of medians:   {ratio:.2f}×")
        return ratio

    r_plain = line("PATCH add 1 member (no query parameters, as IdPs send it)", plain)
    r_lean = line("PATCH add 1 member ?excludedAttributes=members", lean)
    r_get = line("GET /Groups/{id}?excludedAttributes=members", get)
    figures += [
        Figure(
            f"PATCH add member: {size:,} vs 10 (as IdPs send it)",
            f"{r_plain:.2f}× ({plain['big'].p50:.2f} vs {plain['small'].p50:.2f} ms)",
            "≤ 1.5×",
            r_plain <= 1.5,
        ),
        Figure(
            f"PATCH add member ?excludedAttributes=members: {size:,} vs 10",
            f"{r_lean:.2f}× ({lean['big'].p50:.2f} vs {lean['small'].p50:.2f} ms)",
            "≤ 1.5×",
            r_lean <= 1.5,
        ),
        Figure(
            f"GET group ?excludedAttributes=members: {size:,} vs 10",
            f"{r_get:.2f}× ({get['big'].p50:.2f} vs {get['small'].p50:.2f} ms)",
            "≤ 1.5×",
            r_get <= 1.5,
        ),
    ]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000, help="size of the big group (= users stored)")
    parser.add_argument("--requests", type=int, default=200, help="PATCHes per group and variant")
    args = parse_args(parser, members=200, requests=10)
    say(machine_note())
    dataset = build_dataset(args.members, joiners=2 * args.requests + 10, groups={"big": args.members, "small": 10})
    try:
        with serving(dataset) as server:
            figures = measure(dataset, server.port, args.requests, server=server)
    finally:
        dataset.remove()
    report("Group membership against the issue's targets", figures)


if __name__ == "__main__":
    main()
