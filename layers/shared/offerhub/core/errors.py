"""Domain errors. Each carries the public error code and the HTTP status it maps to.

The HTTP layer renders them as the error envelope; nothing else decides statuses.
"""

from __future__ import annotations

from typing import Any


class OfferHubError(Exception):
    status = 500
    code = "INTERNAL_ERROR"
    # Seconds after which the same request may succeed. An answer that carries it means "retry", so it is
    # sent with a Retry-After header and never stored as an idempotent result.
    retry_after: int | None = None

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None,
                 retry_after: int | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or {}
        if retry_after is not None:
            self.retry_after = retry_after


class ValidationFailed(OfferHubError):
    status = 400
    code = "VALIDATION_ERROR"


class InvalidAmount(ValidationFailed):
    code = "INVALID_AMOUNT_FORMAT"


class Unauthorized(OfferHubError):
    status = 401
    code = "UNAUTHORIZED"


class InsufficientScope(OfferHubError):
    status = 403
    code = "INSUFFICIENT_SCOPE"


class NotFound(OfferHubError):
    status = 404
    code = "NOT_FOUND"


class Conflict(OfferHubError):
    status = 409
    code = "CONFLICT"


class Busy(Conflict):
    """Someone else is working on the resource; the same request, retried shortly, gets the real outcome."""

    code = "BUSY"
    retry_after = 1


class InvalidState(Conflict):
    """An illegal state transition; details name the current and the allowed states."""

    code = "INVALID_STATE"


class BusinessRuleViolation(OfferHubError):
    status = 422
    code = "BUSINESS_RULE_VIOLATION"


class InsufficientFunds(BusinessRuleViolation):
    code = "INSUFFICIENT_FUNDS"


class ServiceUnavailable(OfferHubError):
    status = 503
    code = "SERVICE_UNAVAILABLE"


class ProviderError(OfferHubError):
    """A payment rail (Horizon, Trustless Work) answered with an error: 502."""

    status = 502
    code = "PROVIDER_ERROR"


class ProviderTimeout(OfferHubError):
    status = 504
    code = "PROVIDER_TIMEOUT"
