"""The service's own log, read from its database, in the shape of the verifier's :class:`~verifier.transparency.
OnlineLog`: so ``POST /v1/verify`` (and the QR page's upload check) run the same "sealed outside the record"
check as ``seal-verify`` online, without an HTTP round trip to itself.

Example::

    >>> check = LogCheck(policy=bundle.log, online=InstanceLog(instance))       # doctest: +SKIP

A licence whose entry is written but not yet in a checkpoint (sealed under a second ago) is sequenced on the spot
(:func:`~seal_service.log.sequencer.sequence_once`, safe beside the background sequencer: both take the log's
lock), so a fresh licence is checked against a signed checkpoint like any other instead of waiting.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from seal_service.errors import InvalidInput, NotFound, StateConflict
from seal_service.instance import Instance
from seal_service.log.proofs import consistency_between, latest_checkpoint, licence_receipt
from seal_service.log.sequencer import sequence_once
from verifier.tlog import TlogProof
from verifier.transparency import LogUnavailable, OnlineLog


class InstanceLog(OnlineLog):
    """This instance's issuance log for the verifier's log check (receipts and consistency from the database)."""

    def __init__(self, instance: Instance) -> None:
        super().__init__(instance.settings.public_url)
        self.instance = instance

    def receipt(self, licence_id: str) -> TlogProof | None:
        """The licence's receipt; None when the log has no entry for it (the verifier: sealed outside the record)."""
        for attempt in range(2):
            try:
                return licence_receipt(self.instance, licence_id)
            except NotFound:
                return None
            except StateConflict:
                if attempt == 0:
                    sequence_once(self.instance, at=datetime.now(UTC))
        raise LogUnavailable(f"licence {licence_id} is not in a checkpoint yet; try again in a few seconds")

    def consistency(self, old: int, new: int) -> Sequence[bytes]:
        """The consistency proof between two sizes of this log."""
        try:
            return list(consistency_between(self.instance, old, new))
        except (InvalidInput, NotFound, StateConflict) as exc:
            raise LogUnavailable(f"no consistency proof from {old} to {new}: {exc}") from None

    def checkpoint(self) -> bytes:
        """The newest checkpoint note (with its cosignatures)."""
        return latest_checkpoint(self.instance)


__all__ = ["InstanceLog"]
