"""Operations: readiness checks, Prometheus metrics and structured logs (what operators watch).

Public surface: :func:`check_readiness` and :class:`Readiness` (``health``), the counters and
:func:`~seal_service.ops.metrics.exposition` (``metrics``), :func:`logging_config` and :data:`REQUEST_ID`
(``logs``). No FastAPI here: the HTTP side is :mod:`seal_service.api.observability`.
"""

from seal_service.ops.health import Check, Readiness, check_readiness
from seal_service.ops.logs import REQUEST_ID, logging_config, redact

__all__ = ["REQUEST_ID", "Check", "Readiness", "check_readiness", "logging_config", "redact"]
