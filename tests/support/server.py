"""A real scimtrail server in a subprocess on a free 127.0.0.1 port, for end-to-end tests.

Credentials come from the real CLI (``scimtrail org create``, ``admin create``,
``oauth-client create``) against the server's database, so a test exercises what an operator runs.
"""

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

__all__ = ["LiveServer", "free_port"]

_BIN = Path(sys.executable).parent / "scimtrail"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """``with LiveServer(database_url) as server:`` → ``server.origin``, ``server.base_url`` (SCIM).

    The port is chosen once, so a server that was stopped or killed starts again where it was.
    With ``log_path`` the server's output goes there (:meth:`log_tail`); otherwise nowhere.
    """

    def __init__(
        self, database_url: str, *, extra_env: dict[str, str] | None = None, log_path: Path | None = None
    ) -> None:
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.origin}/scim/v2"
        self.env = {
            **os.environ,
            "SCIMTRAIL_DATABASE_URL": database_url,
            "SCIMTRAIL_LOG_FORMAT": "json",
            "SCIMTRAIL_LOG_LEVEL": "warning",
            "SCIMTRAIL_SECRET_KEY": "live-server-secret-key-for-tests-only",
            **(extra_env or {}),
        }
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    # -- the command line, on the server's database -------------------------------------------

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``scimtrail ARGS`` with the server's settings, whatever its exit status."""
        return subprocess.run([str(_BIN), *args], env=self.env, capture_output=True, text=True, timeout=timeout)

    def cli(self, *args: str) -> str:
        """``scimtrail ARGS``' standard output; an error if it fails."""
        done = self.run(*args)
        if done.returncode != 0:
            raise RuntimeError(
                f"`scimtrail {' '.join(args)}` exited with {done.returncode}:\n{done.stdout}{done.stderr}"
            )
        return done.stdout

    def _printed(self, pattern: str, *args: str) -> str:
        output = self.cli(*args)
        found = re.search(pattern, output)
        if found is None:
            raise RuntimeError(f"`scimtrail {' '.join(args)}` printed no {pattern}:\n{output}")
        return found.group(0)

    def create_org(self, slug: str, token_label: str | None = None) -> str:
        """A new organisation; its SCIM bearer token."""
        label = ("--token-label", token_label) if token_label else ()
        return self._printed(r"\bscim_[0-9a-f]{12}_\S+", "org", "create", slug, *label)

    def admin_key(self, org: str, email: str, role: str = "admin") -> str:
        """An ``sk_…`` API key for ``/api/v1``."""
        return self._printed(
            r"\bsk_[0-9a-f]{12}_\S+", "admin", "create", "--org", org, "--email", email, "--role", role
        )

    def oauth_access_token(self, org: str, label: str) -> str:
        """An access token the way a client-credentials IdP gets one: a client from
        ``scimtrail oauth-client create``, then ``POST /oauth/token`` (client_secret_post)."""
        output = self.cli("oauth-client", "create", "--org", org, "--label", label)
        found = dict(re.findall(r"^(client_id|client_secret):\s*(\S+)\s*$", output, flags=re.MULTILINE))
        if len(found) != 2:
            raise RuntimeError(f"`scimtrail oauth-client create` printed no client credentials:\n{output}")
        data = {"grant_type": "client_credentials", "scope": "scim", **found}
        response = httpx.post(f"{self.origin}/oauth/token", data=data, timeout=30)
        response.raise_for_status()
        return str(response.json()["access_token"])

    # -- the server ----------------------------------------------------------------------------

    def start(self, timeout: float = 30) -> None:
        """``scimtrail serve``, returning once ``/healthz`` answers."""
        log = self.log_path.open("ab") if self.log_path else None
        try:
            self.process = subprocess.Popen(
                [str(_BIN), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                stdout=log or subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
            )
        finally:
            if log:
                log.close()  # the server holds its own copy
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"`scimtrail serve` exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.origin}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"`scimtrail serve` did not become healthy within {timeout} s:\n{self.log_tail()}")

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

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None:
            return "(server output not kept: pass log_path)"
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> LiveServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
