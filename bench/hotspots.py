"""Where the server's time goes: py-spy samples of ``scimtrail serve`` under one workload.

    .venv/bin/python bench/hotspots.py {post,filter,deep,cursor,patch} [--users N] [--seconds S]

Starts our server on a seeded database, drives one workload with wrk (16 connections; the
PATCH workload with one sequential client), samples every thread of the server with py-spy
meanwhile (``pip install py-spy``), and prints the hottest frames: self time (where the CPU
is), inclusive time (which calls it is under) and the per-thread split. The raw collapsed
stacks are kept beside the output for flame graphs (``--keep DIR``).
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import threading
import uuid
from pathlib import Path

from _harness import ROOT, machine_note, parse_args, say, wrk
from _scimtrail import Client, build_dataset, serving
from _seed import user_id

PY_SPY = str(ROOT / ".venv" / "bin" / "py-spy")


def summarise(raw: Path, top: int = 25) -> None:
    self_time: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():  # a frame name py-spy could not read whole
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        threads[frames[0]] += n
        self_time[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    say(f"{total} samples")
    for title, counter, k in (("threads", threads, 6), ("self", self_time, top), ("inclusive", inclusive, top + 15)):
        say(f"-- {title}")
        for frame, n in counter.most_common(k):
            say(f"  {100 * n / total:5.1f}%  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workload", choices=["post", "filter", "deep", "cursor", "patch"])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--gil", action="store_true", help="sample only the thread holding the GIL: where Python's CPU goes"
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a server setting, e.g. SCIMTRAIL_AUDIT_ENABLED=false (repeatable)",
    )
    parser.add_argument("--keep", type=Path, default=None, help="directory for the raw py-spy output")
    args = parse_args(parser, users=200, seconds=1)
    if not Path(PY_SPY).exists():
        sys.exit("py-spy is not installed: .venv/bin/pip install py-spy")

    say(machine_note())
    users = 0 if args.workload == "post" else args.users
    groups = {"big": users} if args.workload == "patch" else {}
    dataset = build_dataset(users, joiners=5000 if args.workload == "patch" else 0, groups=groups)
    raw = dataset.directory / "py-spy.txt"
    try:
        settings = dict(item.split("=", 1) for item in args.env)
        with serving(dataset, **settings) as server:
            spy = subprocess.Popen(
                [
                    PY_SPY,
                    "record",
                    "--pid",
                    str(server.pid),
                    "--duration",
                    str(args.seconds),
                    "--rate",
                    "250",
                    "--format",
                    "raw",
                    "--output",
                    str(raw),
                    "--nonblocking",
                    *(["--gil"] if args.gil else []),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            base = f"http://127.0.0.1:{server.port}"
            env = {"BENCH_TOKEN": dataset.token, "BENCH_PATH": "/scim/v2/Users", "BENCH_USERS": str(max(users, 1))}
            if args.workload == "post":
                env["BENCH_TAG"] = uuid.uuid4().hex[:10]
                say(wrk(base, script="post_users.lua", env=env, seconds=args.seconds, server=server).line())
            elif args.workload == "filter":
                say(wrk(base, script="get_filter.lua", env=env, seconds=args.seconds, server=server).line())
            elif args.workload in ("deep", "cursor"):
                path = f"/scim/v2/Users?startIndex={max(users - 9999, 1)}&count=100"
                if args.workload == "cursor":
                    path = "/scim/v2/Users?count=100&cursor="
                env["BENCH_PATH"] = path
                say(wrk(base, script="get.lua", env=env, seconds=args.seconds, server=server).line())
            else:
                client = Client(server.port, dataset.token)
                stop = threading.Event()
                threading.Timer(args.seconds, stop.set).start()
                gid, n = dataset.groups["big"], 0
                for joiner in dataset.joiners:
                    if stop.is_set():
                        break
                    body = {
                        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{"op": "add", "path": "members", "value": [{"value": user_id(joiner)}]}],
                    }
                    client.time("PATCH", f"/scim/v2/Groups/{gid}", body)
                    n += 1
                client.close()
                say(f"{n} PATCHes in {args.seconds}s")
            spy.wait(timeout=args.seconds + 30)
        summarise(raw, args.top)
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(raw, args.keep / f"py-spy-{args.workload}.txt")
    finally:
        dataset.remove()


if __name__ == "__main__":
    main()
