"""The service's error tree.

Every error the domain raises derives from :class:`SealServiceError`. The HTTP layer turns them into
RFC 9457 problem responses in one place (``seal_service.api.problems``) and the CLI turns them into exit
codes in one place (``seal_service.cli``). Each class carries the HTTP status and a stable problem type slug.
"""

from __future__ import annotations


class SealServiceError(Exception):
    """Root of every error the service raises on purpose."""

    status: int = 500
    slug: str = "internal"
    title: str = "Internal error"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class ConfigurationError(SealServiceError):
    """The instance is misconfigured (settings, missing keys, a production instance with dev secrets)."""

    status = 500
    slug = "configuration"
    title = "Service misconfigured"


class InvalidInput(SealServiceError):
    """A caller supplied bad input: a field is missing or malformed, a file is not what it should be."""

    status = 422
    slug = "invalid-input"
    title = "Invalid input"


class InvalidDocument(InvalidInput):
    """The PDF handed in cannot be sealed (not a PDF, damaged, encrypted, already signed, active content)."""

    slug = "invalid-document"
    title = "Document cannot be sealed"


class NotFound(SealServiceError):
    """A referenced seal, item, authority or licence does not exist."""

    status = 404
    slug = "not-found"
    title = "Not found"


class SealNotUsable(SealServiceError):
    """The seal exists but may not seal now (retired, revoked, suspended, no valid certificate)."""

    status = 409
    slug = "seal-not-usable"
    title = "Seal cannot be used"


class NotAuthorised(SealServiceError):
    """The seal or caller is not authorised for this item, jurisdiction or action."""

    status = 403
    slug = "not-authorised"
    title = "Not authorised"


class SealingUnavailable(SealServiceError):
    """The sealing process stopped mid-request: the licence was recorded whole or not at all; a retry with the same
    ``Idempotency-Key`` returns it, or seals it once."""

    status = 503
    slug = "sealing-unavailable"
    title = "Sealing temporarily unavailable"


class KeyUnavailable(SealServiceError):
    """A key reference cannot be resolved or the key cannot be unlocked."""

    status = 503
    slug = "key-unavailable"
    title = "Signing key unavailable"


class PolicyError(SealServiceError):
    """A policy file (catalogue, signature policy) is invalid; the message names file and key path."""

    status = 500
    slug = "policy"
    title = "Policy file invalid"


class StateConflict(SealServiceError):
    """The action conflicts with the current state (a request already decided, a seal rotated meanwhile)."""

    status = 409
    slug = "state-conflict"
    title = "Conflicts with the current state"


class DualControlRefused(NotAuthorised):
    """A key operation needs two different security officers: the requester may not approve it."""

    slug = "dual-control"
    title = "Dual control: a second officer must approve"


class RequestExpired(SealServiceError):
    """A dual-control request was not approved in time; it must be requested again."""

    status = 409
    slug = "request-expired"
    title = "Request expired"


class KeyNotExtractable(SealServiceError):
    """A private key held in a token (HSM) never leaves it; exporting it is refused."""

    status = 403
    slug = "key-not-extractable"
    title = "Private key cannot be exported"


class AuditLogBroken(SealServiceError):
    """The hash-chained audit log does not verify: an entry was modified, deleted, inserted or reordered.

    ``problems`` lists each finding (position in the chain, entry id, what is wrong).
    """

    status = 500
    slug = "audit-log-broken"
    title = "Audit log integrity check failed"

    def __init__(self, detail: str, *, problems: list[object] | None = None) -> None:
        super().__init__(detail)
        self.problems = list(problems or [])


class RateLimited(SealServiceError):
    """Too many requests from one client address; ``retry_after`` says in how many seconds to try again."""

    status = 429
    slug = "rate-limited"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int, field: str | None = None) -> None:
        super().__init__(detail, field=field)
        self.retry_after = retry_after


class QueryTimeout(SealServiceError):
    """A public query took longer than the service allows (PostgreSQL statement_timeout); narrow it and retry."""

    status = 503
    slug = "query-timeout"
    title = "Query took too long"
