"""Errors in Microsoft Graph's shape, and one constructor per error the emulator answers.

:class:`GraphError` carries the HTTP status, Graph's ``code`` and ``message``
(and headers such as ``Location``); the HTTP layer adds ``innerError``. The
texts are Graph's where its documentation or a real response gives them.
"""

from __future__ import annotations

from collections.abc import Mapping

from calsync_emulators.graph_times import Json


class GraphError(Exception):
    """An HTTP error in Graph's shape; the HTTP layer adds ``innerError``."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def body(self, request_id: str, client_request_id: str, date_text: str) -> Json:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": {
                    "date": date_text,
                    "request-id": request_id,
                    "client-request-id": client_request_id,
                },
            }
        }


def item_not_found() -> GraphError:
    return GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")


def id_malformed() -> GraphError:
    return GraphError(400, "ErrorInvalidIdMalformed", "Id is malformed.")


def invalid_user(user: str) -> GraphError:
    return GraphError(404, "ErrorInvalidUser", f"The requested user '{user}' is invalid.")


def irresolvable_conflict() -> GraphError:
    return GraphError(
        412,
        "ErrorIrresolvableConflict",
        "The change key passed in the request does not match the current change key for the item.",
    )


def sync_state_not_found() -> GraphError:
    return GraphError(
        400,
        "syncStateNotFound",
        "The sync state generation is not found. The delta token is expired and data must be "
        "synchronized again.",
    )


def resync_required(location: str) -> GraphError:
    return GraphError(
        410,
        "resyncRequired",
        "The delta token is no longer valid, and the app must reset the sync state.",
        {"Location": location},
    )


def invalid_request(message: str) -> GraphError:
    return GraphError(400, "ErrorInvalidRequest", message)


def validation_failure(message: str) -> GraphError:
    return GraphError(400, "ErrorPropertyValidationFailure", message)


def bad_request(message: str) -> GraphError:
    return GraphError(400, "BadRequest", message)


def invalid_time_zone(name: object) -> GraphError:
    return GraphError(
        400,
        "TimeZoneNotSupportedException",
        "A valid TimeZone value must be specified. "
        f"The following TimeZone value is not supported: '{name}'.",
    )


def unknown_property(name: str) -> GraphError:
    return GraphError(
        400,
        "RequestBodyRead",
        f"The property '{name}' does not exist on type 'microsoft.graph.event'. Make sure to only "
        "use property names that are defined by the type or mark the type as open type.",
    )


def unknown_select(name: str) -> GraphError:
    return GraphError(
        400,
        "RequestBroker--ParseUri",
        f"Could not find a property named '{name}' on type 'microsoft.graph.event'.",
    )


def invalid_filter() -> GraphError:
    return GraphError(
        400, "ErrorInvalidUrlQueryFilter", "The query filter contains one or more invalid nodes."
    )


def delta_query_not_supported() -> GraphError:
    return GraphError(
        400,
        "ErrorInvalidUrlQuery",
        "The following parameters are not supported with change tracking over the "
        "'CalendarView' resource: '$orderby, $filter, $select, $expand, $search'.",
    )


def window_required() -> GraphError:
    return GraphError(
        400,
        "ErrorInvalidParameter",
        "This request requires a time window specified by the query string parameters "
        "StartDateTime and EndDateTime.",
    )
