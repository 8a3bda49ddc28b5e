"""Dependency aliases for routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from seal_service.instance import Instance


def get_instance(request: Request) -> Instance:
    """The instance the app was built for."""
    instance: Instance = request.app.state.instance
    return instance


InstanceDep = Annotated[Instance, Depends(get_instance)]
