"""What route handlers depend on: the services, the authenticated user, the request body."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import orjson
from fastapi import Depends
from starlette.requests import Request

from wahooks.accounts import Principal
from wahooks.errors import BadRequest, PayloadTooLarge

if TYPE_CHECKING:
    from wahooks.services import Services


def services_from(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def services_of(request: Request) -> Services:
    # async on purpose: FastAPI runs a plain `def` dependency in a thread pool, per request.
    return services_from(request)


async def principal_of(request: Request) -> Principal:
    return await services_from(request).accounts.authenticate(request.headers.get("authorization"))


MAX_BODY_BYTES = 50 * 1024 * 1024  # the original's JSON body limit


async def json_object(request: Request) -> dict[str, Any]:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The request body is over {MAX_BODY_BYTES} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"The request body is over {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return parse_json_object(b"".join(chunks))


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object; an empty body is an empty object (the SDKs send none)."""
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"Request body is not valid JSON: {exc}") from None
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object")
    return body


ServicesDep = Annotated["Services", Depends(services_of)]
PrincipalDep = Annotated[Principal, Depends(principal_of)]
BodyDep = Annotated[dict[str, Any], Depends(json_object)]
