"""Every script of the benchmark suite (bench/README.md's table) runs, briefly, so none can rot.

Each script runs as a subprocess with ``--smoke`` (a tiny database, 1 s load runs, one round; its
figures mean nothing) and must exit 0 and print the label of the figure it exists for. The
scripts run a few at a time, started together by one fixture (most of a smoke run is starting
Python processes and waiting on servers); each test then checks one script's run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
WRK = shutil.which("wrk") or ("/usr/bin/wrk" if Path("/usr/bin/wrk").exists() else None)
PY_SPY = ROOT / ".venv" / "bin" / "py-spy"

#: script → (extra arguments, what it needs besides the venv, labels its output must contain)
SUITE: dict[str, tuple[list[str], set[str], list[str]]] = {
    "post_users.py": ([], {"wrk"}, ["throughput vs scim2-server's own server", "p99 at 16 clients"]),
    "filter_get.py": ([], {"wrk"}, ["filter userName eq, p50"]),
    "paging.py": ([], set(), ["deep page startIndex=", "cursor page count=100, p50"]),
    "group_members.py": ([], set(), ["PATCH add member:", "GET group ?excludedAttributes=members"]),
    "memory.py": ([], {"wrk"}, ["peak RSS serving with"]),
    "run_all.py": ([], {"wrk"}, ["Issue #2 performance figures", "peak RSS serving with"]),
    "audit_overhead.py": ([], {"wrk"}, ["audited throughput vs unaudited", "seal lag p99"]),
    "audit_log.py": ([], set(), ["page: category + 30d + actor", "free text: prefix", "csv export:"]),
    "auth_overhead.py": ([], set(), ["SCIM token authentication adds"]),
    "stream_delivery.py": ([], set(), ["events per CPU-second", "events/s"]),
    "stream_lag.py": ([], set(), ["commit → receipt lag: p50"]),
    "ab.py": (["base=.", "--env-for", "base:SCIMTRAIL_LOG_LEVEL=warning"], {"wrk"}, ["median of round ratios"]),
    "audit_write_cost.py": ([], set(), ["CPU µs/event", "bytes written/event"]),
    "inprocess.py": ([], set(), ["POST /Users", "CPU p50"]),
    "hotspots.py": (["post"], {"wrk", "py-spy"}, ["samples", "-- self"]),
    "stalls.py": ([], set(), ["probe p50 / p99 / max", "PATCH replace members"]),
}
WORKERS = 3
TIMEOUT = 240


@dataclass(frozen=True)
class Run:
    returncode: int | None
    output: str
    seconds: float
    skipped: str | None = None


def _missing(needs: set[str]) -> str | None:
    if "wrk" in needs and WRK is None:
        return "wrk is not installed (scripts/test.sh installs it: apt-get install wrk)"
    if "py-spy" in needs and not PY_SPY.exists():
        return "py-spy is not installed (.venv/bin/pip install py-spy)"
    return None


def _run(script: str) -> Run:
    args, needs, _ = SUITE[script]
    if reason := _missing(needs):
        return Run(None, "", 0.0, reason)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIMTRAIL_")}
    started = time.monotonic()
    try:
        done = subprocess.run(
            [PYTHON, str(BENCH / script), *args, "--smoke"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout or ""
        return Run(None, f"timed out after {TIMEOUT} s\n{out}", time.monotonic() - started)
    return Run(done.returncode, done.stdout + done.stderr, time.monotonic() - started)


@pytest.fixture(scope="module")
def runs() -> dict[str, Run]:
    """Every suite script's smoke run, a few at a time (most of each is waiting on a server)."""
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return dict(zip(SUITE, pool.map(_run, SUITE), strict=True))


def test_the_suite_is_every_script_in_bench() -> None:
    """A new script joins the suite (and bench/README.md's table) or is not kept in bench/."""
    scripts = {p.name for p in BENCH.glob("*.py") if not p.name.startswith("_")}
    assert scripts == set(SUITE)
    readme = (BENCH / "README.md").read_text()
    assert [s for s in SUITE if f"`{s}`" not in readme] == []


@pytest.mark.parametrize("script", list(SUITE))
def test_smoke_run(runs: dict[str, Run], script: str) -> None:
    run = runs[script]
    if run.skipped:
        pytest.skip(run.skipped)
    assert run.returncode == 0, (
        f"{script} --smoke exited {run.returncode} after {run.seconds:.0f} s:\n{run.output[-4000:]}"
    )
    missing = [label for label in SUITE[script][2] if label not in run.output]
    assert not missing, f"{script} --smoke did not print {missing}:\n{run.output[-4000:]}"
