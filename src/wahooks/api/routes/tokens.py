"""API tokens of the authenticated account."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from wahooks.api.deps import BodyDep, PrincipalDep, ServicesDep
from wahooks.api.openapi import json_body
from wahooks.api.responses import json_response
from wahooks.clock import iso
from wahooks.schemas import raise_if, string_field, string_schema, token_json

router = APIRouter(tags=["tokens"])

TOKEN_SCHEMA = {"type": "object", "required": ["name"], "properties": {
    "name": string_schema(required=True, description="What the token is for"),
}}


@router.get("/api/tokens", summary="List active tokens")
async def list_tokens(principal: PrincipalDep, services: ServicesDep) -> Response:
    tokens = await services.accounts.list_tokens(principal.user)
    return json_response([token_json(token) for token in tokens])


@router.post("/api/tokens", status_code=201, summary="Create a token (shown once)",
             openapi_extra=json_body(TOKEN_SCHEMA))
async def create_token(principal: PrincipalDep, services: ServicesDep, body: BodyDep) -> Response:
    errors: list[str] = []
    name = string_field(body, "name", errors, required=True)
    raise_if(errors)
    assert name is not None
    new = await services.accounts.create_token(principal.user, name)
    return json_response(
        {
            "id": new.token.id,
            "name": new.token.name,
            "token": new.raw,
            "tokenPrefix": new.token.token_prefix,
            "createdAt": iso(new.token.created_at),
        },
        201,
    )


@router.delete("/api/tokens/{token_id}", summary="Revoke a token (idempotent)")
async def revoke_token(token_id: str, principal: PrincipalDep, services: ServicesDep) -> Response:
    await services.accounts.revoke_token(principal.user, token_id)
    return json_response({"success": True})
