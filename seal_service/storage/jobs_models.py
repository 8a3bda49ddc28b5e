"""Database models of work any API node may be asked about: batch verification jobs.

A job is accepted and run by one node, but the client may poll any node behind the load balancer, so its state,
its documents and its results live here, not in files of the node that took it (migration ``0005_nodes``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from seal_service.storage.models import Base, UtcDateTime


class VerificationJob(Base):
    """A batch verification job (``POST /v1/verify/batch`` above 20 files) and, once done, its results."""

    __tablename__ = "verification_jobs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    """``J`` + 24 hex digits, unguessable: knowing it is what lets a caller read the results."""
    status: Mapped[str] = mapped_column(String(16))
    """running, done or failed."""
    files: Mapped[int] = mapped_column(Integer)
    """Documents in the batch."""
    verified: Mapped[int] = mapped_column(Integer, default=0)
    """Documents verified so far (progress, and the heartbeat of the node running the job)."""
    node: Mapped[str] = mapped_column(String(200))
    """The node running the job (host name and process id), for operators."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    """Last progress; a running job without progress for long is reported failed (its node stopped)."""
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    results: Mapped[str | None] = mapped_column(Text, nullable=True)
    """The per-file reports as one JSON array (large: up to 500 reports), written once when the job is done."""
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class VerificationJobFile(Base):
    """A document of a running job, kept until the job ends so that another node can take the job over."""

    __tablename__ = "verification_job_files"

    job_id: Mapped[str] = mapped_column(ForeignKey("verification_jobs.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(1000))
    data: Mapped[bytes] = mapped_column(LargeBinary)
