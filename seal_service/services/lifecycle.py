"""The seal lifecycle: recorded memoranda, the effective catalogue, and each seal's status at a given instant.

Example::

    >>> outcome = record_memorandum(instance, department="jc-market", bureau="jc-bureau", items=["JC-004"],
    ...                             effective_on=date(2027, 1, 1), at=now, actor="cli")     # doctest: +SKIP
    >>> outcome.retired_seals                                                                # doctest: +SKIP
    ('jc-market-approval',)
    >>> state = instance.lifecycle.state()                                                   # doctest: +SKIP
    >>> instance.lifecycle.seal_state(seal, at=datetime(2027, 1, 2, tzinfo=UTC), state=state).status
    <SealStatus.RETIRED: 'retired'>                                                          # doctest: +SKIP

Only facts are stored: the memoranda (append-only) and explicit revocations (``seals revoke``). A retired seal's
status and the cessationOfOperation revocation of its certificates are *derived* from the effective catalogue
(policy file + memoranda) whenever they are asked about, at the instant asked about. So a future-dated memorandum
takes effect at its cut-over without anyone acting: before it the OCSP responder says "good" and the seal seals;
from it the responder says "revoked, cessationOfOperation, at the cut-over" and sealing is refused.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from cryptography import x509
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from seal_service.catalogue import Catalogue
from seal_service.errors import InvalidInput
from seal_service.events.outbox import memorandum_recorded
from seal_service.log.leaves import log_seals_retired
from seal_service.memoranda import (
    Memorandum,
    Retirement,
    apply_memoranda,
    apply_memorandum,
    check_parties,
    china_day,
    cut_over_instant,
    items_sealed_by,
    retirements,
)
from seal_service.storage.lifecycle_models import MemorandumRecord
from seal_service.storage.models import AuditEntry, Authority, Licence, Seal, SealCertificate, SealStatus

if TYPE_CHECKING:
    from seal_service.instance import Instance


@dataclass(frozen=True)
class Revocation:
    """A certificate's revocation as published: explicit (``seals revoke``) or derived from a retirement."""

    revoked_at: datetime
    reason: x509.ReasonFlags
    invalidity_date: datetime | None = None
    """When the key is known or suspected to have been compromised (keyCompromise only)."""
    retirement: Retirement | None = None
    """Set when the revocation (or its time) comes from the seal's retirement at a memorandum cut-over."""


def _reason_flag(value: str | None) -> x509.ReasonFlags:
    for flag in x509.ReasonFlags:
        if value in (flag.value, flag.name):
            return flag
    return x509.ReasonFlags.unspecified


def explicit_revocation(cert: SealCertificate) -> Revocation | None:
    """The revocation recorded on a certificate row, if any."""
    if cert.revoked_at is None:
        return None
    return Revocation(
        revoked_at=cert.revoked_at,
        reason=_reason_flag(cert.revocation_reason),
        invalidity_date=cert.invalidity_date,
    )


def effective_revocation(explicit: Revocation | None, retirement: Retirement | None) -> Revocation | None:
    """Combine an explicit revocation with a retirement: the earliest time wins, keyCompromise always shows.

    A key compromised after its seal retired must not let documents sealed between the cut-over and the
    compromise look good, so the revocation time stays the cut-over; the keyCompromise reason and its
    invalidity date are kept so verifiers can also judge documents sealed before the cut-over.
    """
    retired = (
        Revocation(retirement.at, x509.ReasonFlags.cessation_of_operation, retirement=retirement)
        if retirement is not None
        else None
    )
    if explicit is None or retired is None:
        return explicit or retired
    if explicit.revoked_at <= retired.revoked_at:
        return explicit
    if explicit.reason is x509.ReasonFlags.key_compromise:
        return Revocation(
            revoked_at=retired.revoked_at,
            reason=x509.ReasonFlags.key_compromise,
            invalidity_date=explicit.invalidity_date or explicit.revoked_at,
            retirement=retirement,
        )
    return retired


@dataclass(frozen=True)
class LifecycleState:
    """The effective catalogue and what follows from it; time-independent (it carries dates, not a verdict)."""

    catalogue: Catalogue
    """Policy file + recorded memoranda."""
    memoranda: tuple[Memorandum, ...]
    retirements: dict[str, Retirement]
    """Retired departments by authority code."""

    def retirement_of(self, authority_code: str) -> Retirement | None:
        """The retirement of an authority's seals, past or scheduled."""
        return self.retirements.get(authority_code)

    def memorandum(self, memorandum_id: int) -> Memorandum | None:
        """A recorded memorandum by id."""
        return next((m for m in self.memoranda if m.id == memorandum_id), None)


@dataclass(frozen=True)
class SealState:
    """A seal's status at one instant, with why."""

    seal_id: str
    status: SealStatus
    since: datetime | None = None
    reason: str | None = None
    """Revocation reason (keyCompromise, ...) for a revoked seal."""
    retirement: Retirement | None = None

    @property
    def usable(self) -> bool:
        """Whether the seal may seal at that instant."""
        return self.status is SealStatus.ACTIVE

    def describe(self) -> str:
        """One sentence for people: ``seal X retired on 2027-01-01 (memorandum 3: ...)``."""
        if self.status is SealStatus.RETIRED and self.retirement is not None:
            r = self.retirement
            memo = f"memorandum {r.memorandum}" if r.memorandum is not None else "the catalogue"
            to = f": its items moved to {r.successor}" if r.successor else ""
            return f"seal {self.seal_id} retired on {r.day.isoformat()} ({memo}{to})"
        if self.status is SealStatus.ACTIVE:
            return f"seal {self.seal_id} is active"
        since = f" on {china_day(self.since).isoformat()}" if self.since else ""
        why = f", reason {self.reason}" if self.reason else ""
        return f"seal {self.seal_id} is {self.status.value} ({self.status.value}{since}{why})"


def _memorandum(row: MemorandumRecord) -> Memorandum:
    return Memorandum(
        id=row.id,
        department=row.department_code,
        bureau=row.bureau_code,
        effective_on=row.effective_on,
        items=tuple(row.item_codes),
        whole_department=row.whole_department,
        reference=row.reference,
        recorded_at=row.recorded_at,
    )


class Lifecycle:
    """Per-instance access to the lifecycle state; the derivation is cached while the memoranda are unchanged."""

    def __init__(self, instance: Instance) -> None:
        self._instance = instance
        self._lock = threading.Lock()
        self._cached: tuple[tuple[int, tuple[Memorandum, ...]], LifecycleState] | None = None

    def state(self, session: Session | None = None) -> LifecycleState:
        """The current lifecycle state. The memoranda are read on every call (one small query) so that a
        memorandum recorded by another process (the CLI, another API node) counts at once."""
        if session is None:
            with self._instance.sessions() as own:
                return self.state(own)
        rows = session.scalars(select(MemorandumRecord).order_by(MemorandumRecord.id)).all()
        memoranda = tuple(_memorandum(r) for r in rows)
        base = self._instance.catalogue
        key = (id(base), memoranda)
        with self._lock:
            if self._cached is not None and self._cached[0] == key:
                return self._cached[1]
        effective = apply_memoranda(base, memoranda)
        state = LifecycleState(catalogue=effective, memoranda=memoranda, retirements=retirements(effective))
        with self._lock:
            self._cached = (key, state)
        return state

    def seal_state(self, seal: Seal, *, at: datetime, state: LifecycleState) -> SealState:
        """The status of ``seal`` at ``at``: an explicit status (revoked, suspended) from the time it was set,
        else retired from its department's cut-over, else active."""
        changed = seal.status_changed_at
        if seal.status != SealStatus.ACTIVE.value and (changed is None or changed <= at):
            return SealState(seal.id, SealStatus(seal.status), since=changed, reason=seal.status_reason)
        retirement = state.retirement_of(seal.authority.code)
        if retirement is not None and retirement.at <= at:
            return SealState(seal.id, SealStatus.RETIRED, since=retirement.at, retirement=retirement)
        return SealState(seal.id, SealStatus.ACTIVE)

    def certificate_revocation(
        self, cert: SealCertificate, authority_code: str, state: LifecycleState
    ) -> Revocation | None:
        """The certificate's revocation, past or scheduled (callers compare ``revoked_at`` with their instant)."""
        return effective_revocation(explicit_revocation(cert), state.retirement_of(authority_code))

    def revoked_certificates(self, session: Session, state: LifecycleState) -> list[tuple[SealCertificate, Revocation]]:
        """Every seal certificate with a revocation, past or scheduled."""
        retired = list(state.retirements)
        rows = session.execute(
            select(SealCertificate, Authority.code)
            .join(Seal, SealCertificate.seal_id == Seal.id)
            .join(Authority, Seal.authority_id == Authority.id)
            .where(or_(SealCertificate.revoked_at.is_not(None), Authority.code.in_(retired)))
        ).all()
        found = []
        for cert, code in rows:
            revocation = self.certificate_revocation(cert, code, state)
            if revocation is not None:
                found.append((cert, revocation))
        return found


@dataclass(frozen=True)
class MemorandumOutcome:
    """A recorded memorandum and what it changes."""

    memorandum: Memorandum
    cut_over_at: datetime
    retired_seals: tuple[str, ...]
    """Seals this memorandum retires (all items of their department have then moved)."""
    retires_on: date | None


def list_memoranda(instance: Instance) -> tuple[Memorandum, ...]:
    """Every recorded memorandum, oldest first."""
    return instance.lifecycle.state().memoranda  # type: ignore[no-any-return]


def record_memorandum(
    instance: Instance,
    *,
    department: str,
    bureau: str,
    effective_on: date,
    items: Sequence[str] | None,
    at: datetime,
    actor: str,
    reference: str | None = None,
    note: str | None = None,
) -> MemorandumOutcome:
    """Record a handover memorandum: from 00:00 China time of ``effective_on`` the items move to ``bureau``.

    ``items=None`` moves everything the department seals on that day (its approval powers as a whole), which
    retires its seal then. A memorandum whose cut-over has already begun is refused if the department sealed any
    licence that the cut-over would now fall after: a memorandum never turns a lawfully sealed licence invalid.
    """
    if at.tzinfo is None:
        raise InvalidInput("recording time must be timezone-aware")
    if reference is not None and len(reference) > 200:
        raise InvalidInput("reference is longer than 200 characters", field="reference")
    lifecycle: Lifecycle = instance.lifecycle
    cut_over = cut_over_instant(effective_on)
    with instance.writer.begin() as session:
        # Serialise memoranda of one department (PostgreSQL row lock; SQLite writers are serialised anyway).
        dept_row = session.scalar(select(Authority).where(Authority.code == department).with_for_update())
        state = lifecycle.state(session)
        check_parties(state.catalogue, department, bureau)
        whole = items is None
        codes = items_sealed_by(state.catalogue, department, effective_on) if items is None else tuple(items)
        memo = Memorandum(
            id=max((m.id for m in state.memoranda), default=0) + 1,
            department=department,
            bureau=bureau,
            effective_on=effective_on,
            items=codes,
            whole_department=whole,
        )
        # Replay every memorandum with the new one in date order: it must apply, and so must those recorded
        # for later dates (e.g. one that moves an item this one would already have moved).
        after = instance.catalogue
        for m in sorted([*state.memoranda, memo], key=lambda m: (m.effective_on, m.id)):
            try:
                after = apply_memorandum(after, m)
            except InvalidInput as exc:
                if m is memo:
                    raise
                raise InvalidInput(f"conflicts with recorded memorandum {m.id}: {exc.detail}", field="items") from None
        retires = retirements(after).get(department)
        before = state.retirement_of(department)
        if retires is not None and before is not None and before.day == retires.day:
            retires = None
        if cut_over < at and dept_row is not None:
            query = (
                select(func.count())
                .select_from(Licence)
                .where(Licence.authority_id == dept_row.id, Licence.sealed_at >= cut_over)
            )
            if retires is None:
                query = query.where(Licence.item_code.in_(codes))
            sealed_since = session.scalar(query) or 0
            if sealed_since:
                raise InvalidInput(
                    f"{department} has sealed {sealed_since} licence(s) since {cut_over.isoformat()}, which a cut-over "
                    f"on {effective_on.isoformat()} would turn invalid; choose a later effective date",
                    field="effective",
                )
        row = MemorandumRecord(
            department_code=department,
            bureau_code=bureau,
            effective_on=effective_on,
            item_codes=list(codes),
            whole_department=whole,
            reference=reference,
            note=note,
            recorded_at=at,
            recorded_by=actor,
        )
        session.add(row)
        session.flush()
        retired_seals: tuple[str, ...] = ()
        if retires is not None and dept_row is not None:
            retired_seals = tuple(session.scalars(select(Seal.id).where(Seal.authority_id == dept_row.id)))
            log_seals_retired(session, instance.settings, seal_ids=retired_seals, authority=department, at=cut_over)
        session.add(
            AuditEntry(
                at=at,
                actor=actor,
                action="memorandum.record",
                details={
                    "memorandum": row.id,
                    "department": department,
                    "bureau": bureau,
                    "items": list(codes),
                    "effective_on": effective_on.isoformat(),
                    "retires": list(retired_seals),
                    "reference": reference,
                },
            )
        )
        memorandum_recorded(
            session,
            instance,
            memorandum=row,
            retired_seals=retired_seals,
            retires_on=retires.day if retires is not None else None,
            cut_over_at=cut_over,
            at=at,
        )
        memo = _memorandum(row)
    instance.revocation.changed()
    return MemorandumOutcome(
        memorandum=memo,
        cut_over_at=cut_over,
        retired_seals=retired_seals,
        retires_on=retires.day if retires is not None else None,
    )


@dataclass(frozen=True)
class SealLifecycleView:
    """A seal, its status at one instant, and its scheduled or past retirement."""

    id: str
    name: str
    authority_code: str
    credit_code: str
    state: SealState
    retirement: Retirement | None
    certificates: tuple[tuple[SealCertificate, Revocation | None], ...]


def seal_lifecycles(instance: Instance, *, at: datetime) -> list[SealLifecycleView]:
    """Every seal with its derived status at ``at`` and its certificates' revocations (past or scheduled)."""
    lifecycle: Lifecycle = instance.lifecycle
    with instance.sessions() as session:
        state = lifecycle.state(session)
        seals = session.scalars(
            select(Seal).options(selectinload(Seal.authority), selectinload(Seal.certificates)).order_by(Seal.id)
        ).all()
        return [
            SealLifecycleView(
                id=seal.id,
                name=seal.name,
                authority_code=seal.authority.code,
                credit_code=seal.authority.credit_code,
                state=lifecycle.seal_state(seal, at=at, state=state),
                retirement=state.retirement_of(seal.authority.code),
                certificates=tuple(
                    (c, lifecycle.certificate_revocation(c, seal.authority.code, state)) for c in seal.certificates
                ),
            )
            for seal in seals
        ]


__all__ = [
    "Lifecycle",
    "LifecycleState",
    "MemorandumOutcome",
    "Revocation",
    "SealLifecycleView",
    "SealState",
    "effective_revocation",
    "explicit_revocation",
    "list_memoranda",
    "record_memorandum",
    "seal_lifecycles",
]
