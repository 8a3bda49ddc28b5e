"""Dependency aliases for routes: the instance, the authenticated caller, role checks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from seal_service.errors import NotAuthorised
from seal_service.instance import Instance
from seal_service.services.apikeys import Caller, Role, authenticate

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer sk_...`")


def get_instance(request: Request) -> Instance:
    """The instance the app was built for."""
    instance: Instance = request.app.state.instance
    return instance


InstanceDep = Annotated[Instance, Depends(get_instance)]


async def get_caller(
    instance: InstanceDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Caller:
    """The authenticated caller (401 problem otherwise)."""
    presented = credentials.credentials if credentials else None
    return await run_in_threadpool(authenticate, instance, presented, at=datetime.now(UTC))


CallerDep = Annotated[Caller, Depends(get_caller)]


def require_role(*roles: Role) -> Callable[[Caller], Caller]:
    """A dependency that admits only callers in ``roles`` (403 otherwise)."""

    def check(caller: CallerDep) -> Caller:
        if caller.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise NotAuthorised(f"this action needs the role {allowed}; the key {caller.key_id} is {caller.role.value}")
        return caller

    return check
