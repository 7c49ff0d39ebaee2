"""Errors in Google's shape, and one constructor per error the emulator answers.

:class:`ApiError` renders as ``{"error": {"errors": [{domain, reason, message,
locationType, location}], "code", "message"}}``; the reasons and texts are
Google's (``notFound``, ``fullSyncRequired``, ``conditionNotMet``,
``timeRangeEmpty``, the ``usageLimits`` ones the fault switches use...).
"""

from __future__ import annotations

from typing import Any

from calsync_emulators.zones import TimeFormatError

Json = dict[str, Any]


class ApiError(Exception):
    """An HTTP error in Google's shape: ``{"error": {"errors": [...], "code", "message"}}``."""

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        *,
        domain: str = "global",
        location_type: str | None = None,
        location: str | None = None,
    ) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.domain = domain
        self.location_type = location_type
        self.location = location

    def body(self) -> Json:
        item: Json = {"domain": self.domain, "reason": self.reason, "message": self.message}
        if self.location_type is not None:
            item["locationType"] = self.location_type
            item["location"] = self.location
        return {"error": {"errors": [item], "code": self.status, "message": self.message}}


def not_found() -> ApiError:
    return ApiError(404, "notFound", "Not Found")


def deleted() -> ApiError:
    return ApiError(410, "deleted", "Resource has been deleted")


def duplicate() -> ApiError:
    return ApiError(409, "duplicate", "The requested identifier already exists.")


def full_sync_required() -> ApiError:
    return ApiError(
        410,
        "fullSyncRequired",
        "Sync token is no longer valid, a full sync is required.",
        domain="calendar",
        location_type="parameter",
        location="syncToken",
    )


def condition_not_met() -> ApiError:
    return ApiError(
        412,
        "conditionNotMet",
        "Precondition Failed",
        location_type="header",
        location="If-Match",
    )


def time_range_empty(location: str = "timeMax") -> ApiError:
    return ApiError(
        400,
        "timeRangeEmpty",
        "The specified time range is empty.",
        domain="calendar",
        location_type="parameter",
        location=location,
    )


def time_range_too_long() -> ApiError:
    return ApiError(
        400, "timeRangeTooLong", "The requested time range is too long.", domain="calendar"
    )


def invalid(message: str, location: str | None = None) -> ApiError:
    if location is None:
        return ApiError(400, "invalid", message)
    return ApiError(400, "invalid", message, location_type="parameter", location=location)


def required(message: str) -> ApiError:
    return ApiError(400, "required", message)


def bad_request(message: str = "Bad Request") -> ApiError:
    return ApiError(400, "badRequest", message)


def parse_error() -> ApiError:
    return ApiError(400, "parseError", "Parse Error")


def user_rate_limit_exceeded() -> ApiError:
    return ApiError(403, "userRateLimitExceeded", "User Rate Limit Exceeded", domain="usageLimits")


def rate_limit_exceeded(status: int = 403) -> ApiError:
    return ApiError(status, "rateLimitExceeded", "Rate Limit Exceeded", domain="usageLimits")


def quota_exceeded() -> ApiError:
    return ApiError(403, "quotaExceeded", "Calendar usage limits exceeded.", domain="usageLimits")


def backend_error(status: int = 503) -> ApiError:
    return ApiError(status, "backendError", "Backend Error")


def time_error(exc: TimeFormatError) -> ApiError:
    """A TimeFormatError as Google reports it: ``required`` when missing, else ``invalid``."""
    message = str(exc)
    return required(message) if message.startswith("Missing") else invalid(message)
