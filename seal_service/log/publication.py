"""The log's part of the trust bundle: its keys, the witnesses, the recommended k-of-n and a pinned checkpoint.

Example::

    >>> bundle_section(instance)["keys"]          # doctest: +SKIP
    ['127.0.0.1:8000/log+1a2b3c4d+AZ...']

The pinned checkpoint is the newest one when the bundle is issued. It changes with every sequenced entry, so it is
left out of the content hash that decides when a new bundle version is due (:func:`content_for_digest`): a bundle
pins whatever checkpoint was newest when it was issued, and a verifier checks later checkpoints against it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from seal_service.instance import Instance
from seal_service.log.keys import log_verifiers
from seal_service.log.proofs import cosigned_note, current_size
from seal_service.storage.log_models import LogWitness


def bundle_section(instance: Instance) -> dict[str, Any] | None:
    """The ``log`` section of the trust bundle payload (None before the log exists)."""
    with instance.sessions() as session:
        keys = [v.vkey for v in log_verifiers(session)]
        if not keys:
            return None
        witnesses = [
            {"department": w.department, "vkey": w.vkey}
            for w in session.scalars(select(LogWitness).order_by(LogWitness.name))
        ]
        checkpoint = cosigned_note(session, current_size(session)).decode()
    return {
        "origin": keys[0].split("+", 1)[0],
        "keys": keys,
        "witnesses": witnesses,
        "quorum": min(instance.settings.log_witness_quorum, len(witnesses)),
        "checkpoint": checkpoint,
    }


def content_for_digest(content: dict[str, Any]) -> dict[str, Any]:
    """The bundle content without the pinned checkpoint (it alone never makes a new bundle version due)."""
    log = content.get("log")
    if not isinstance(log, dict):
        return content
    return {**content, "log": {k: v for k, v in log.items() if k != "checkpoint"}}
