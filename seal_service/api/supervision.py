"""The supervision link over HTTP (审管分离): the pull feed and findings for departments, subscriptions for admins.

- ``GET /v1/supervision/events?after=CURSOR&limit=N&wait=SECONDS`` (role ``supervisor``): the events routed to
  the key's department, as CloudEvents JSON, with ``next_cursor``; ``wait`` long-polls when there are none yet.
- ``POST /v1/supervision/findings`` (``supervisor``, multipart): a finding about a licence of a supervised item;
  ``GET /v1/supervision/findings?status=open`` and ``POST /v1/supervision/findings/{id}/resolve`` (``operator``).
- ``/v1/admin/subscriptions`` (``operator``): create (the secret is shown once), list/status, replay, disable,
  enable webhook subscriptions.

The router's lifespan runs the event dispatcher with the app (``SEAL_DISPATCHER``, default on).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, File, Form, Query, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from seal_service.api.deps import InstanceDep, require_role
from seal_service.errors import NotAuthorised
from seal_service.events import receivers
from seal_service.events.feed import MAX_LIMIT, licence_for_department, read_feed
from seal_service.events.findings import (
    Attachment,
    FindingKind,
    FindingView,
    file_finding,
    list_findings,
    resolve_finding,
)
from seal_service.events.outbox import json_default
from seal_service.instance import Instance
from seal_service.services.apikeys import Caller, Role


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    from seal_service.events.dispatcher import Dispatcher

    instance: Instance = app.state.instance
    dispatcher = Dispatcher(instance) if instance.settings.dispatcher else None
    app.state.event_dispatcher = dispatcher
    if dispatcher is not None:
        dispatcher.start()
    try:
        yield
    finally:
        if dispatcher is not None:
            await run_in_threadpool(dispatcher.stop)


#: What the app includes: the department routes and the admin routes, with the dispatcher's lifespan.
router = APIRouter(lifespan=_lifespan)
supervision = APIRouter(prefix="/v1/supervision", tags=["supervision"])

SupervisorDep = Annotated[Caller, Depends(require_role(Role.SUPERVISOR))]

#: The largest cursor (a BIGINT); larger numbers are refused as input, not sent to the database.
MAX_SEQ = 2**63 - 1

#: How often a waiting feed request looks again (events of other processes; this process wakes it at once).
_POLL_SECONDS = 0.2


def _department(caller: Caller) -> str:
    if not caller.authority_code:
        raise NotAuthorised(f"the key {caller.key_id} is not bound to a department")
    return caller.authority_code


@supervision.get("/events", summary="Events routed to the caller's department, after a cursor")
async def events(
    instance: InstanceDep,
    caller: SupervisorDep,
    after: Annotated[
        int, Query(ge=0, le=MAX_SEQ, description="Sequence number of the last event already read (0 = start).")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Most events to return.")] = 100,
    wait: Annotated[float, Query(ge=0, le=60, description="Seconds to wait for an event when there is none.")] = 0,
) -> Response:
    """CloudEvents 1.0 JSON events of the items the department supervises and of its own seals, in order."""
    department = _department(caller)
    deadline = time.monotonic() + wait
    while True:
        page = await run_in_threadpool(read_feed, instance, department, after=after, limit=limit)
        if page.envelopes or time.monotonic() >= deadline:
            return Response(page.json(), media_type="application/json")
        await asyncio.sleep(min(_POLL_SECONDS, max(0.0, deadline - time.monotonic())))


@supervision.get("/licences/{licence_id}", summary="A licence's record, for the departments receiving its events")
def get_licence_record(licence_id: str, instance: InstanceDep, caller: SupervisorDep) -> Response:
    """The licence's data as in its events (now), for its item's supervisor and its seal's department (404 else)."""
    data, _pdf = licence_for_department(instance, licence_id, _department(caller))
    return Response(json.dumps(data, ensure_ascii=False, default=json_default), media_type="application/json")


@supervision.get(
    "/licences/{licence_id}/pdf", summary="A licence's sealed PDF, for the departments receiving its events"
)
def get_licence_document(licence_id: str, instance: InstanceDep, caller: SupervisorDep) -> Response:
    """The sealed PDF exactly as handed out (its SHA-256 is ``document_sha256`` in the events)."""
    _data, pdf = licence_for_department(instance, licence_id, _department(caller))
    return Response(pdf, media_type="application/pdf")


# -- findings back ---------------------------------------------------------------------------------------------

OperatorDep = Annotated[Caller, Depends(require_role(Role.OPERATOR))]


class AttachmentOut(BaseModel):
    """An attachment of a finding."""

    filename: str
    sha256: str
    size: int


class FindingOut(BaseModel):
    """A finding and its resolution."""

    id: str
    licence_id: str
    licence_number: str
    department: str
    kind: str
    text: str
    inspector_reference: str | None
    status: str
    filed_at: datetime
    filed_by: str
    attachments: list[AttachmentOut]
    resolution: str | None
    resolution_reason: str | None
    resolved_at: datetime | None
    resolved_by: str | None


def _finding_out(view: FindingView) -> FindingOut:
    data = asdict(view)
    return FindingOut(**data)


@supervision.post("/findings", status_code=201, summary="File a finding about a licence of a supervised item")
async def post_finding(
    instance: InstanceDep,
    caller: SupervisorDep,
    licence_id: Annotated[str, Form(min_length=1, max_length=40)],
    kind: Annotated[FindingKind, Form(description="What the inspection found.")],
    text: Annotated[str, Form(min_length=1, max_length=5000)],
    inspector_reference: Annotated[str | None, Form(max_length=200)] = None,
    attachments: Annotated[list[UploadFile] | None, File(description="PDF attachments (at most 5).")] = None,
) -> FindingOut:
    """Only the department supervising the licence's item may file (403 otherwise); the bureau resolves it."""
    department = _department(caller)
    files = [Attachment(a.filename or "attachment.pdf", await a.read()) for a in attachments or []]
    view = await run_in_threadpool(
        lambda: file_finding(
            instance,
            department=department,
            licence_id=licence_id,
            kind=kind.value,
            text=text,
            inspector_reference=inspector_reference,
            attachments=files,
            at=datetime.now(UTC),
            actor=f"supervisor:{caller.key_id}",
        )
    )
    return _finding_out(view)


@supervision.get("/findings", summary="The bureau's work queue of findings")
def get_findings(
    instance: InstanceDep,
    caller: OperatorDep,
    status: Annotated[Literal["open", "resolved"] | None, Query(description="open or resolved; all if absent")] = None,
) -> list[FindingOut]:
    """Findings filed by departments, oldest first (operator keys)."""
    return [_finding_out(v) for v in list_findings(instance, status=status)]


class ResolutionIn(BaseModel):
    """How the bureau resolves a finding."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["suspend", "revoke", "none"]
    reason: str = Field(min_length=1, max_length=500)


@supervision.post("/findings/{finding_id}/resolve", summary="Resolve a finding (suspend, revoke, or no action)")
def post_resolution(finding_id: str, body: ResolutionIn, instance: InstanceDep, caller: OperatorDep) -> FindingOut:
    """Suspend or revoke through the licence-status path, or record no action with a reason; an event back."""
    view = resolve_finding(
        instance,
        finding_id,
        action=body.action,
        reason=body.reason,
        at=datetime.now(UTC),
        actor=f"operator:{caller.key_id}",
    )
    return _finding_out(view)


# -- subscriptions (admin) -------------------------------------------------------------------------------------


class SubscriptionIn(BaseModel):
    """A department's webhook endpoint."""

    model_config = ConfigDict(extra="forbid")

    department: str = Field(min_length=1, max_length=64)
    url: str = Field(min_length=1, max_length=2000)
    after: int | None = Field(
        default=None, ge=0, le=MAX_SEQ, description="Deliver events after this cursor (default: newest)."
    )


class SubscriptionCreated(BaseModel):
    """The new subscription; ``secret`` is shown only in this answer."""

    id: str
    department: str
    url: str
    secret: str
    cursor: int


class ReceiverOut(BaseModel):
    """Where a receiver stands."""

    id: str
    kind: str
    department: str | None
    url: str
    status: str
    status_reason: str | None
    cursor: int
    backlog: int
    delivered: int
    attempts: int
    failing_since: datetime | None
    next_attempt_at: datetime | None
    last_error: str | None
    dead_letters: list[int]


class ReplayIn(BaseModel):
    """Deliver again every event after ``after``."""

    model_config = ConfigDict(extra="forbid")

    after: int = Field(ge=0, le=MAX_SEQ)


class DisableIn(BaseModel):
    """Why a subscription is disabled."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="disabled by an operator", min_length=1, max_length=500)


admin = APIRouter(prefix="/v1/admin/subscriptions", tags=["supervision"])


@admin.post("", status_code=201, summary="Subscribe a department's webhook endpoint")
def post_subscription(body: SubscriptionIn, instance: InstanceDep, caller: OperatorDep) -> SubscriptionCreated:
    """Create a subscription; the signing secret is in this answer only."""
    issued = receivers.create_subscription(
        instance,
        department=body.department,
        url=body.url,
        after=body.after,
        at=datetime.now(UTC),
        actor=f"operator:{caller.key_id}",
    )
    return SubscriptionCreated(**asdict(issued))


@admin.get("", summary="Every receiver and where it stands")
def get_subscriptions(instance: InstanceDep, caller: OperatorDep) -> list[ReceiverOut]:
    """Webhook subscriptions and the broker relay: cursor, backlog, retries, dead letters."""
    return [ReceiverOut(**asdict(s)) for s in receivers.receiver_status(instance)]


@admin.post("/{subscription_id}/replay", summary="Deliver again every event after a cursor")
def post_replay(subscription_id: str, body: ReplayIn, instance: InstanceDep, caller: OperatorDep) -> ReceiverOut:
    """Move the cursor back; the events after it are delivered again with their ids."""
    receivers.replay(
        instance, subscription_id, after=body.after, at=datetime.now(UTC), actor=f"operator:{caller.key_id}"
    )
    return ReceiverOut(**asdict(receivers.receiver_status(instance, subscription_id)[0]))


@admin.post("/{subscription_id}/disable", summary="Stop delivering to a subscription")
def post_disable(subscription_id: str, body: DisableIn, instance: InstanceDep, caller: OperatorDep) -> ReceiverOut:
    """Deliveries stop; the cursor stays where it is."""
    receivers.disable(
        instance, subscription_id, reason=body.reason, at=datetime.now(UTC), actor=f"operator:{caller.key_id}"
    )
    return ReceiverOut(**asdict(receivers.receiver_status(instance, subscription_id)[0]))


@admin.post("/{subscription_id}/enable", summary="Resume delivering to a subscription")
def post_enable(subscription_id: str, instance: InstanceDep, caller: OperatorDep) -> ReceiverOut:
    """Deliveries resume from the cursor."""
    receivers.enable(instance, subscription_id, at=datetime.now(UTC), actor=f"operator:{caller.key_id}")
    return ReceiverOut(**asdict(receivers.receiver_status(instance, subscription_id)[0]))


router.include_router(supervision)
router.include_router(admin)
