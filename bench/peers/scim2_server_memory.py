"""scim2-server's own in-memory server, served by uvicorn (one worker, uvloop + httptools).

    .venv/bin/python bench/peers/scim2_server_memory.py --port 8081 --token TOKEN

PyPI ``scim2-server`` ships a ``scim2-server`` command that serves ``InMemoryStorage`` through a
threaded ``wsgiref`` server. For a fair comparison with our uvicorn server we serve the same
storage and provider through the package's own ASGI application (``ASGIApplication`` over
``AsyncInMemoryStorage``, the provider its command builds: RFC 7643 schemas and resource types,
its default ServiceProviderConfig) under the same uvicorn, with its test server's static bearer
token check. Endpoints live at ``/v2/...`` as in its command.
"""

from __future__ import annotations

import argparse
import hmac
import os

import uvicorn
from scim2_models import ScimProvider, UnauthorizedException
from scim2_server.applications.asgi import ASGIApplication
from scim2_server.memory import AsyncInMemoryStorage
from scim2_server.requests import ScimRequest
from scim2_server.service import ScimService
from scim2_server.storage import AsyncScimStorage
from scim2_server.utils import load_default_provider


class BearerASGIApplication(ASGIApplication):
    """The ASGI application with the static bearer token check of scim2-server's test server."""

    def __init__(self, storage: AsyncScimStorage, provider: ScimProvider, service: ScimService, token: str) -> None:
        super().__init__(storage, provider, service)
        self._token = token

    def check_auth(self, request: ScimRequest) -> None:
        scheme, _, token = (request.header("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token, self._token):
            raise UnauthorizedException


def build(token: str) -> BearerASGIApplication:
    provider = load_default_provider()
    service = ScimService(provider, secret=os.urandom(32).hex())
    return BearerASGIApplication(AsyncInMemoryStorage(), provider, service, token)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    uvicorn.run(build(args.token), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
