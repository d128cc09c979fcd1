"""What route handlers depend on: the services, the authenticated user, the request body."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends
from starlette.requests import Request

from wahooks.accounts import Principal
from wahooks.api.body import read_body
from wahooks.engines.routes import parse_json_object

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


async def json_object(request: Request) -> dict[str, Any]:
    return parse_json_object(
        await read_body(request.receive, request.headers.get("content-length"))
    )


ServicesDep = Annotated["Services", Depends(services_of)]
PrincipalDep = Annotated[Principal, Depends(principal_of)]
BodyDep = Annotated[dict[str, Any], Depends(json_object)]
