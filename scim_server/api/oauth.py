"""``POST /oauth/token``: the client credentials grant (RFC 6749 §4.4) on authlib's server machinery.

authlib's server side is synchronous, so the endpoint works in three steps: read the form and load
the client the request names (async, one query), run authlib's grant over that snapshot with no
I/O in any callback (client authentication, scope checks, token generation, error bodies), then
store the issued token's digest with its ``oauth_token.issued`` event (async, one transaction)
before the token is sent. Access tokens look like every other credential (``sat_<prefix>_<secret>``)
and are checked by the same authenticator as SCIM tokens.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network
from typing import Any, ClassVar
from urllib.parse import parse_qsl

import structlog
from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientCredentialsGrant,
    ClientMixin,
    InsecureTransportError,
    InvalidClientError,
    InvalidRequestError,
    OAuth2Error,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import audit
from scim_server.auth import Authenticator, secrets
from scim_server.services.credentials import Credentials, OAuthClientSnapshot

from .context import public_base_url
from .peer import client_ip

__all__ = ["SCOPE", "oauth_routes"]

_log = structlog.get_logger("scimtrail.oauth")

#: The one scope there is: access to the organisation's SCIM API.
SCOPE = "scim"
_FORM = "application/x-www-form-urlencoded"
_MAX_FORM_BYTES = 8 * 1024


class _Client(ClientMixin):
    """authlib's view of a client snapshot; remembers why authentication failed, for the audit log."""

    def __init__(self, snapshot: OAuthClientSnapshot) -> None:
        self.snapshot = snapshot
        self.failure: str | None = None

    def get_client_id(self) -> str:
        return self.snapshot.client_id

    def check_client_secret(self, client_secret: str) -> bool:
        if self.snapshot.check_secret(client_secret):
            return True
        self.failure = "invalid_secret"
        return False

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in _Grant.TOKEN_ENDPOINT_AUTH_METHODS

    def check_grant_type(self, grant_type: str) -> bool:
        return bool(grant_type == _Grant.GRANT_TYPE)

    def get_allowed_scope(self, scope: str | None) -> str:
        return SCOPE


class _Grant(ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post"]


class _TokenRequest(OAuth2Request):
    def __init__(self, uri: str, headers: Any, form: dict[str, str]) -> None:
        super().__init__("POST", uri, headers=headers)
        self.payload = BasicOAuth2Payload(form)
        self._form = form

    @property
    def form(self) -> dict[str, str]:
        return self._form

    @property
    def args(self) -> dict[str, str]:
        return {}


class _Exchange(AuthorizationServer):
    """One token request: authlib's server over the client loaded beforehand. Never does I/O."""

    def __init__(self, client: _Client | None, ttl_seconds: int) -> None:
        super().__init__(scopes_supported=[SCOPE])
        self.client = client
        self.ttl_seconds = ttl_seconds
        self.issued: dict[str, Any] | None = None
        self.register_grant(_Grant)
        self.register_token_generator("default", self._generate)

    def query_client(self, client_id: str) -> _Client | None:
        if self.client is None or self.client.snapshot.client_id != client_id:
            return None
        if self.client.snapshot.revoked:
            self.client.failure = "revoked"
            return None
        return self.client

    def _generate(self, *, scope: str | None = None, **_: Any) -> dict[str, Any]:
        return {
            "access_token": secrets.issue("sat").plaintext,
            "token_type": "Bearer",
            "expires_in": self.ttl_seconds,
            "scope": scope or SCOPE,
        }

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        # Persisted by the endpoint after the grant has run: no I/O inside authlib.
        self.issued = token

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        return request  # already built from the Starlette request by the endpoint

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass

    def handle_error_response(self, request: OAuth2Request, error: OAuth2Error) -> Response:
        if isinstance(error, InvalidClientError):
            # Unknown client, wrong secret, revoked client: one answer that names none of them.
            error.description = "Client authentication failed."
        response: Response = super().handle_error_response(request, error)
        return response

    def handle_response(self, status: int, body: Any, headers: Sequence[tuple[str, str]]) -> Response:
        return JSONResponse(body, status_code=status, headers=dict(headers))


def _error(error: OAuth2Error) -> Response:
    status, body, headers = error()
    return JSONResponse(body, status_code=status, headers=dict(headers))


def _parse_form(raw: bytes) -> dict[str, str]:
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw))
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequestError("The request body is not a valid form.") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form:
            # RFC 6749 §3.2: request parameters MUST NOT be included more than once.
            raise InvalidRequestError(f"The parameter {key!r} is repeated.")
        form[key] = value
    return form


class _TokenEndpoint:
    def __init__(
        self,
        credentials: Credentials,
        authenticator: Authenticator,
        ttl_seconds: int,
        trusted_proxies: Sequence[IPv4Network | IPv6Network],
    ) -> None:
        self.credentials = credentials
        self.authenticator = authenticator
        self.ttl_seconds = ttl_seconds
        self.trusted_proxies = trusted_proxies

    async def handle(self, request: Request) -> Response:
        try:
            form = await self._form(request)
            uri = public_base_url(request, self.trusted_proxies) + request.url.path
            oauth_request = _TokenRequest(uri, request.headers, form)
        except InsecureTransportError:
            # RFC 6749 §3.2 requires TLS; the answer uses a §5.2 code that clients know.
            return _error(InvalidRequestError("The token endpoint must be called over HTTPS."))
        except OAuth2Error as error:
            return _error(error)
        if not form.get("grant_type"):
            return _error(InvalidRequestError("The grant_type parameter is required."))
        basic_id, _ = extract_basic_authorization(request.headers)
        if basic_id and ("client_secret" in form or ("client_id" in form and form["client_id"] != basic_id)):
            # RFC 6749 §2.3: a client MUST NOT use more than one authentication method per request.
            return _error(InvalidRequestError("Use either HTTP Basic or form parameters to authenticate, not both."))
        client_id = basic_id or form.get("client_id")
        snapshot = await self.credentials.load_client(client_id) if client_id else None
        client = _Client(snapshot) if snapshot is not None else None
        exchange = _Exchange(client, self.ttl_seconds)
        response: Response = exchange.create_token_response(oauth_request)
        ip = client_ip(request, self.trusted_proxies)
        if exchange.issued is None:
            if client is not None and client.failure is not None:
                self.authenticator.reject_client(
                    client.snapshot.org_slug, client.snapshot.label, client.snapshot.client_id, client.failure, ip
                )
            return response
        assert client is not None
        context = audit.RequestContext(
            ip=ip,
            user_agent=(request.headers.get("user-agent") or "")[:256] or None,
            request_id=request.scope.get("state", {}).get("request_id"),
        )
        await self.credentials.record_access_token(
            client.snapshot, exchange.issued["access_token"], exchange.issued["scope"], self.ttl_seconds, context
        )
        _log.info("access token issued", client_id=client.snapshot.client_id, org=client.snapshot.org_slug)
        return response

    @staticmethod
    async def _form(request: Request) -> dict[str, str]:
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != _FORM:
            raise InvalidRequestError(f"The request body must be {_FORM}.")
        raw = await request.body()
        if len(raw) > _MAX_FORM_BYTES:
            raise InvalidRequestError("The request body is too large.")
        return _parse_form(raw)


def oauth_routes(
    credentials: Credentials,
    authenticator: Authenticator,
    ttl_seconds: int,
    trusted_proxies: Sequence[IPv4Network | IPv6Network] = (),
) -> list[Route]:
    """The token endpoint, to be mounted at the application's root (``/oauth/token``)."""
    # authlib logs the token it issues at DEBUG; whatever the log level, that must never be written.
    logging.getLogger("authlib").setLevel(logging.WARNING)
    endpoint = _TokenEndpoint(credentials, authenticator, ttl_seconds, trusted_proxies)
    return [Route("/oauth/token", endpoint.handle, methods=["POST"])]
