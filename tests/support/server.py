"""A real scimtrail server in a subprocess on a free 127.0.0.1 port, for end-to-end tests."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

__all__ = ["LiveServer", "free_port", "scimtrail"]

_BIN = Path(sys.executable).parent / "scimtrail"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scimtrail(*args: str, env: dict[str, str]) -> str:
    """Run a CLI command to completion and return its standard output."""
    done = subprocess.run([str(_BIN), *args], env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"scimtrail {' '.join(args)} failed: {done.stderr}")
    return done.stdout


class LiveServer:
    """``with LiveServer(database_url) as server:`` → ``server.base_url``, ``server.create_org(slug)``."""

    def __init__(self, database_url: str, *, extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.origin}/scim/v2"
        self.env = {
            **os.environ,
            "SCIMTRAIL_DATABASE_URL": database_url,
            "SCIMTRAIL_LOG_LEVEL": "warning",
            "SCIMTRAIL_SECRET_KEY": "live-server-secret-key-for-tests-only",
        }
        self.env.update(extra_env or {})
        self.process: subprocess.Popen[bytes] | None = None

    def create_org(self, slug: str) -> str:
        """Create an organisation through the CLI; returns its SCIM bearer token."""
        out = scimtrail("org", "create", slug, env=self.env)
        match = re.search(r"(scim_[0-9a-f]{12}_\S+)", out)
        assert match, out
        return match.group(1)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(_BIN), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.origin}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("server did not become healthy")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flushing — a crash."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def __enter__(self) -> LiveServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
