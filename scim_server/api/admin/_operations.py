"""The admin API's operations, as data: each one becomes a route and an entry in the OpenAPI document."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from audit.http import ApiError, Call, JsonResponse, Operation, Section
from scim_server.services import Caller
from scim_server.services.credentials import AccountView, Credentials
from scim_server.storage.types import utcnow

from ._guard import Guard
from ._schemas import REQUESTS, RESOURCES, validate

__all__ = ["Admin", "OPERATIONS", "admin_section", "admins_of"]


@dataclass(frozen=True, slots=True)
class Admin:
    """What an admin operation works with: the service, and the admin acting through it."""

    svc: Credentials
    acting: Caller


_SECRETS = ("token", "client_secret", "key")


def _render(view: Any) -> dict[str, Any]:
    data = dataclasses.asdict(view)
    for name in _SECRETS:
        if data.get(name) is None:
            data.pop(name, None)
    if isinstance(view, AccountView) and view.key is not None:
        data["key"] = _render(view.key)
    return data


# ---- handlers ---------------------------------------------------------------------------------


async def get_organization(call: Call[Admin]) -> Response:
    svc, acting = call.auth.svc, call.auth.acting
    org = await svc.organization(acting)
    return JsonResponse(
        {"slug": org.slug, "name": org.name, "created_at": org.created_at, "scim_base_path": "/scim/v2"}
    )


async def list_tokens(call: Call[Admin]) -> Response:
    svc, acting = call.auth.svc, call.auth.acting
    return JsonResponse({"tokens": [_render(t) for t in await svc.list_tokens(acting)]})


async def create_token(call: Call[Admin]) -> Response:
    svc, acting = call.auth.svc, call.auth.acting
    body = validate(call.body, "TokenCreate")
    return JsonResponse(_render(await svc.create_token(acting, body["label"], body.get("expires_at"))), status_code=201)


async def get_token(call: Call[Admin]) -> Response:
    svc, acting = call.auth.svc, call.auth.acting
    return JsonResponse(_render(await svc.get_token(acting, call.path("id"))))


async def revoke_token(call: Call[Admin]) -> Response:
    svc, acting = call.auth.svc, call.auth.acting
    return JsonResponse(_render(await svc.revoke_token(acting, call.path("id"))))


async def rotate_token(call: Call[Admin]) -> Response:
    svc, acting = call.auth.svc, call.auth.acting
    body = validate(call.body, "TokenRotate")
    if "expires_old_at" in body and "grace_seconds" in body:
        raise ApiError(422, "invalid_value", "Give expires_old_at or grace_seconds, not both.")
    old_until = body.get("expires_old_at")
    if "grace_seconds" in body:
        old_until = utcnow() + timedelta(seconds=body["grace_seconds"])
    token = await svc.rotate_token(
        acting, call.path("id"), old_expires_at=old_until, label=body.get("label"), expires_at=body.get("expires_at")
    )
    return JsonResponse(_render(token), status_code=201)


async def list_clients(call: Call[Admin]) -> Response:
    svc, acting = call.auth.svc, call.auth.acting
    return JsonResponse({"oauth_clients": [_render(c) for c in await svc.list_clients(acting)]})


async def create_client(call: Call[Admin]) -> Response:
    svc, acting = call.auth.svc, call.auth.acting
    body = validate(call.body, "OAuthClientCreate")
    return JsonResponse(_render(await svc.create_client(acting, body["label"])), status_code=201)


async def get_client(call: Call[Admin]) -> Response:
    svc, acting = call.auth.svc, call.auth.acting
    return JsonResponse(_render(await svc.get_client(acting, call.path("id"))))


async def revoke_client(call: Call[Admin]) -> Response:
    svc, acting = call.auth.svc, call.auth.acting
    return JsonResponse(_render(await svc.revoke_client(acting, call.path("id"))))


async def rotate_client_secret(call: Call[Admin]) -> Response:
    svc, acting = call.auth.svc, call.auth.acting
    return JsonResponse(_render(await svc.rotate_client_secret(acting, call.path("id"))))


async def list_accounts(call: Call[Admin]) -> Response:
    svc, acting = call.auth.svc, call.auth.acting
    return JsonResponse({"admins": [_render(a) for a in await svc.list_accounts(acting)]})


async def create_account(call: Call[Admin]) -> Response:
    svc, acting = call.auth.svc, call.auth.acting
    body = validate(call.body, "AccountCreate")
    account = await svc.create_account(acting, body["email"], body["role"], body.get("key_label", "default"))
    return JsonResponse(_render(account), status_code=201)


async def get_account(call: Call[Admin]) -> Response:
    svc, acting = call.auth.svc, call.auth.acting
    return JsonResponse(_render(await svc.get_account(acting, call.path("id"))))


async def delete_account(call: Call[Admin]) -> Response:
    svc, acting = call.auth.svc, call.auth.acting
    await svc.delete_account(acting, call.path("id"))
    return Response(status_code=204)


async def list_keys(call: Call[Admin]) -> Response:
    svc, acting = call.auth.svc, call.auth.acting
    return JsonResponse({"keys": [_render(k) for k in await svc.list_keys(acting, call.path("id"))]})


async def create_key(call: Call[Admin]) -> Response:
    svc, acting = call.auth.svc, call.auth.acting
    body = validate(call.body, "KeyCreate")
    key = await svc.create_key(acting, call.path("id"), body.get("label", "default"), body.get("expires_at"))
    return JsonResponse(_render(key), status_code=201)


async def revoke_key(call: Call[Admin]) -> Response:
    svc, acting = call.auth.svc, call.auth.acting
    return JsonResponse(_render(await svc.revoke_key(acting, call.path("id"), call.path("key_id"))))


_NOT_FOUND = {404: "No such resource in this organisation."}
_INVALID = {422: "A field is missing or has a wrong value."}

OPERATIONS: tuple[Operation[Admin], ...] = (
    Operation(
        "GET",
        "/organization",
        "getOrganization",
        "The caller's organisation.",
        get_organization,
        "organization",
        response="Organization",
    ),
    Operation(
        "GET",
        "/tokens",
        "listTokens",
        "List SCIM bearer tokens (never their secrets).",
        list_tokens,
        "tokens",
        response="TokenList",
    ),
    Operation(
        "POST",
        "/tokens",
        "createToken",
        "Create a SCIM bearer token; the token is in this answer only.",
        create_token,
        "tokens",
        201,
        "TokenCreate",
        "TokenCreated",
        errors=_INVALID,
    ),
    Operation(
        "GET",
        "/tokens/{id}",
        "getToken",
        "One SCIM bearer token.",
        get_token,
        "tokens",
        response="Token",
        errors=_NOT_FOUND,
    ),
    Operation(
        "DELETE",
        "/tokens/{id}",
        "revokeToken",
        "Revoke a SCIM bearer token, effective on the next request.",
        revoke_token,
        "tokens",
        response="Token",
        errors=_NOT_FOUND,
    ),
    Operation(
        "POST",
        "/tokens/{id}/rotate",
        "rotateToken",
        "Issue a replacement token; the old one keeps working until expires_old_at (or for grace_seconds), then stops.",
        rotate_token,
        "tokens",
        201,
        "TokenRotate",
        "TokenCreated",
        errors={**_NOT_FOUND, **_INVALID, 409: "The token is revoked or expired."},
    ),
    Operation(
        "GET",
        "/oauth-clients",
        "listOAuthClients",
        "List OAuth clients (never their secrets).",
        list_clients,
        "oauth-clients",
        response="OAuthClientList",
    ),
    Operation(
        "POST",
        "/oauth-clients",
        "createOAuthClient",
        "Create an OAuth client for the client credentials grant; client_secret is in this answer only.",
        create_client,
        "oauth-clients",
        201,
        "OAuthClientCreate",
        "OAuthClientCreated",
        errors=_INVALID,
    ),
    Operation(
        "GET",
        "/oauth-clients/{id}",
        "getOAuthClient",
        "One OAuth client.",
        get_client,
        "oauth-clients",
        response="OAuthClient",
        errors=_NOT_FOUND,
    ),
    Operation(
        "DELETE",
        "/oauth-clients/{id}",
        "revokeOAuthClient",
        "Revoke an OAuth client: its secret and all its access tokens stop at once.",
        revoke_client,
        "oauth-clients",
        response="OAuthClient",
        errors=_NOT_FOUND,
    ),
    Operation(
        "POST",
        "/oauth-clients/{id}/rotate-secret",
        "rotateOAuthClientSecret",
        "Replace the client secret (the old one stops at once); issued access tokens stay valid until they expire.",
        rotate_client_secret,
        "oauth-clients",
        200,
        None,
        "OAuthClientCreated",
        errors={**_NOT_FOUND, 409: "The client is revoked."},
    ),
    Operation(
        "GET",
        "/admins",
        "listAdmins",
        "List admin and auditor accounts.",
        list_accounts,
        "admins",
        response="AccountList",
    ),
    Operation(
        "POST",
        "/admins",
        "createAdmin",
        "Create an admin or auditor account with its first API key (in this answer only).",
        create_account,
        "admins",
        201,
        "AccountCreate",
        "AccountCreated",
        errors={**_INVALID, 409: "The email is already in use."},
    ),
    Operation(
        "GET", "/admins/{id}", "getAdmin", "One account.", get_account, "admins", response="Account", errors=_NOT_FOUND
    ),
    Operation(
        "DELETE",
        "/admins/{id}",
        "deleteAdmin",
        "Remove an account and revoke its keys.",
        delete_account,
        "admins",
        204,
        errors={**_NOT_FOUND, 409: "The organisation's last admin cannot be removed."},
    ),
    Operation(
        "GET",
        "/admins/{id}/keys",
        "listAdminKeys",
        "List an account's API keys (never their secrets).",
        list_keys,
        "admins",
        response="KeyList",
        errors=_NOT_FOUND,
    ),
    Operation(
        "POST",
        "/admins/{id}/keys",
        "createAdminKey",
        "Create an API key; the key is in this answer only.",
        create_key,
        "admins",
        201,
        "KeyCreate",
        "KeyCreated",
        errors={**_NOT_FOUND, **_INVALID},
    ),
    Operation(
        "DELETE",
        "/admins/{id}/keys/{key_id}",
        "revokeAdminKey",
        "Revoke an API key at once.",
        revoke_key,
        "admins",
        response="Key",
        errors=_NOT_FOUND,
    ),
)


_ERRORS = {
    401: "No valid admin API key (missing, unknown, expired, revoked, or a SCIM credential).",
    403: "The key belongs to an auditor: auditors only read the audit log.",
    429: "Rate limit exceeded for this key; see Retry-After.",
}


def admin_section(authenticate: Callable[[Request], Awaitable[Admin]]) -> Section[Admin]:
    """The admin operations at the root of ``/api/v1``; ``authenticate`` admits the organisation's admins."""
    return Section("", OPERATIONS, authenticate, _ERRORS, {**REQUESTS, **RESOURCES})


def admins_of(credentials: Credentials, guard: Guard) -> Callable[[Request], Awaitable[Admin]]:
    async def authenticate(request: Request) -> Admin:
        return Admin(credentials, await guard.admin(request))

    return authenticate
