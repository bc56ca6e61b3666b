"""Shared plumbing for the benchmarks: servers as subprocesses, wrk runs, in-process timing.

Every server is started on a free 127.0.0.1 port, waited for, and stopped by its own PID.
Every wrk run is bounded in time. Nothing here targets anything but the loopback interface.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
SCIMTRAIL = str(ROOT / ".venv" / "bin" / "scimtrail")
WRK = shutil.which("wrk") or "/usr/bin/wrk"
LUA = BENCH / "lua"


def parse_args(parser: argparse.ArgumentParser, **smoke: object) -> argparse.Namespace:
    """Parse the command line, with ``--smoke``: the same script in about two seconds.

    ``smoke`` holds the option values of a smoke run (a tiny database, 1 s load runs, one round);
    options given on the command line still win. CI runs every script this way
    (``tests/e2e/test_bench_smoke.py``) so the suite cannot rot; a smoke run's figures mean nothing.
    """
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a ~2 s run on a tiny database, to check the script works (CI); its figures mean nothing",
    )
    args = parser.parse_args()
    if args.smoke:
        parser.set_defaults(**smoke)
        args = parser.parse_args()
    return args


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def workdir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"scimtrail-bench-{prefix}-"))


# -- servers ---------------------------------------------------------------------------------------


def _cpu_seconds(stat: Path) -> float:
    """User + system CPU seconds from a /proc ``stat`` file (a process's or one thread's)."""
    fields = stat.read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    """A server process we started; stopped only through its own PID."""

    name: str
    cmd: Sequence[str]
    port: int
    env: Mapping[str, str] = field(default_factory=dict)
    log: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> Server:
        log = self.log or Path(tempfile.mkstemp(prefix=f"bench-{self.name}-", suffix=".log")[1])
        self.log = log
        with log.open("wb") as out:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                list(self.cmd), env={**os.environ, **self.env}, stdout=out, stderr=subprocess.STDOUT, cwd=str(ROOT)
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; log:\n{log.read_text()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not listen on {self.port} within {timeout}s")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rss_kib(self) -> tuple[int, int]:
        """(current RSS, peak RSS) of the server process in KiB, from /proc."""
        values = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
        return values["VmRSS"], values["VmHWM"]

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far, all its threads included.

        CPU per request is the figure least disturbed by other load on a shared machine.
        """
        return _cpu_seconds(Path(f"/proc/{self.pid}/stat"))

    def main_thread_cpu_seconds(self) -> float:
        """User + system CPU time of the server's main thread (its event loop) so far."""
        return _cpu_seconds(Path(f"/proc/{self.pid}/task/{self.pid}/stat"))

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


# -- wrk -------------------------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if m is None:
        raise ValueError(f"unreadable wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int
    raw: str
    #: Server CPU milliseconds per request over the run, when the server was given.
    cpu_ms: float | None = None

    def line(self) -> str:
        errors = f", non-2xx {self.non_2xx}" if self.non_2xx else ""
        errors += f", socket errors {self.socket_errors}" if self.socket_errors else ""
        cpu = f"  server CPU {self.cpu_ms:.2f} ms/req" if self.cpu_ms is not None else ""
        return f"{self.rps:8.0f} req/s  p50 {self.p50_ms:6.2f} ms  p90 {self.p90_ms:6.2f} ms  p99 {self.p99_ms:6.2f} ms{cpu}{errors}"


def wrk(
    url: str,
    *,
    script: str | None = None,
    env: Mapping[str, str] | None = None,
    connections: int = 16,
    threads: int = 1,
    seconds: int = 10,
    server: Server | None = None,
) -> WrkResult:
    """One bounded wrk run (closed loop, ``connections`` clients) and its parsed figures."""
    cmd = [WRK, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if script:
        cmd += ["-s", str(LUA / script)]
    cmd.append(url)
    cpu0 = server.cpu_seconds() if server else 0.0
    out = subprocess.run(
        cmd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=seconds + 30, check=True
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    pct = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)", out, re.MULTILINE))
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    cpu_ms = (server.cpu_seconds() - cpu0) * 1000 / max(total, 1) if server else None
    return WrkResult(
        cpu_ms=cpu_ms,
        rps=rps,
        p50_ms=_ms(pct["50"]),
        p90_ms=_ms(pct["90"]),
        p99_ms=_ms(pct["99"]),
        requests=total,
        non_2xx=int(non.group(1)) if non else 0,
        socket_errors=sum(int(g) for g in sock.groups()) if sock else 0,
        raw=out,
    )


def post_users(
    server: Server, token: str, *, seconds: int, connections: int = 16, path: str = "/scim/v2/Users"
) -> WrkResult:
    """One bounded wrk run of ``lua/post_users.lua`` (a new user per request) against ``server``.

    Every benchmark that creates users goes through here; a run with any non-2xx answer or socket
    error is not a measurement, so it stops the benchmark with wrk's output.
    """
    res = wrk(
        f"http://127.0.0.1:{server.port}",
        script="post_users.lua",
        env={"BENCH_PATH": path, "BENCH_TOKEN": token, "BENCH_TAG": uuid.uuid4().hex[:10]},
        connections=connections,
        seconds=seconds,
        server=server,
    )
    if res.non_2xx or res.socket_errors:
        say(res.raw)
        raise SystemExit(f"{server.name}: {res.non_2xx} non-2xx responses, {res.socket_errors} socket errors")
    return res


# -- in-process ASGI timing ----------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]


async def asgi_call(
    app: Callable[..., Awaitable[None]],
    method: str,
    path: str,
    *,
    query: str = "",
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """One request straight into an ASGI app: the protocol and storage cost, no HTTP parsing."""
    raw_headers = [(b"host", b"bench.local")]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    if body:
        raw_headers.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": raw_headers,
        "server": ("bench.local", 80),
        "client": ("127.0.0.1", 12345),
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    reply = Reply(0, b"", {})

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            reply.status = message["status"]
            reply.headers = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            reply.body += message.get("body", b"")

    await app(scope, receive, send)
    return reply


@dataclass(frozen=True)
class Timing:
    n: int
    median_us: float
    p90_us: float

    def cell(self) -> str:
        return _human(self.median_us)


def _human(us: float) -> str:
    if us >= 100_000:
        return f"{us / 1e6:.2f} s"
    if us >= 1000:
        return f"{us / 1000:.2f} ms"
    return f"{us:.0f} µs"


async def time_calls(make_call: Callable[[int], Awaitable[Reply]], n: int, *, expect: int | Sequence[int]) -> Timing:
    """Median and p90 of ``n`` sequential calls; every reply must have an expected status."""
    ok = {expect} if isinstance(expect, int) else set(expect)
    samples = []
    for i in range(n):
        t0 = time.perf_counter()
        reply = await make_call(i)
        samples.append((time.perf_counter() - t0) * 1e6)
        if reply.status not in ok:
            raise RuntimeError(f"unexpected {reply.status}: {reply.body[:500]!r}")
    samples.sort()
    return Timing(n, statistics.median(samples), samples[min(len(samples) - 1, int(0.9 * len(samples)))])


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table, so the output pastes straight into the docs."""
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=False)]
    fmt = "| " + " | ".join(f"{{:{w}}}" for w in widths) + " |"
    lines = [fmt.format(*headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += [fmt.format(*map(str, r)) for r in rows]
    return "\n".join(lines)


def machine_note() -> str:
    """The machine's state, printed with every result: figures on a shared box need it."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores, load average {load}, {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}"


def say(*parts: object) -> None:
    """Benchmark output is the product of these scripts: plain stdout, flushed."""
    sys.stdout.write(" ".join(str(p) for p in parts) + "\n")
    sys.stdout.flush()
