"""``/users/{id}/mailboxSettings``: time zone, working hours and automatic replies.

GET returns the mailboxSettings resource (Graph v1.0): ``timeZone``,
``workingHours`` and ``automaticRepliesSetting`` (``status`` ``disabled`` |
``alwaysEnabled`` | ``scheduled``, with ``scheduledStartDateTime`` /
``scheduledEndDateTime`` as ``{dateTime, timeZone}``, ``externalAudience`` and
the two reply messages). PATCH merges ``automaticRepliesSetting`` (and
``timeZone``) and returns the whole resource. An app without
``MailboxSettings.Read`` gets 403 ``ErrorAccessDenied``: the emulator denies
the mailboxes named in ``denied`` to test that path.
"""

from __future__ import annotations

import copy
from datetime import datetime

from calsync_emulators.graph_errors import GraphError, bad_request
from calsync_emulators.graph_model import Mailbox
from calsync_emulators.graph_times import Json

_STATUSES = ("disabled", "alwaysEnabled", "scheduled")
_AUDIENCES = ("none", "contactsOnly", "all")


def default_replies() -> Json:
    return {
        "status": "disabled",
        "externalAudience": "all",
        "internalReplyMessage": "",
        "externalReplyMessage": "",
    }


def access_denied() -> GraphError:
    return GraphError(
        403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
    )


def mailbox_settings(mailbox: Mailbox, replies: Json, root: str) -> Json:
    """The mailboxSettings resource of ``mailbox``."""
    zone = mailbox.time_zone  # as the mailbox was set up: a Windows (or IANA) name
    return {
        "@odata.context": f"{root}/v1.0/$metadata#users('{mailbox.user_id}')/mailboxSettings",
        "archiveFolder": "",
        "timeZone": zone,
        "automaticRepliesSetting": copy.deepcopy(replies),
        "language": {"locale": "en-US", "displayName": "English (United States)"},
        "dateFormat": "M/d/yyyy",
        "timeFormat": "h:mm tt",
        "userPurpose": "user",
        "delegateMeetingMessageDeliveryOptions": "sendToDelegateOnly",
        "workingHours": {
            "daysOfWeek": list(mailbox.working_days),
            "startTime": f"{mailbox.working_start:%H:%M:%S}.0000000",
            "endTime": f"{mailbox.working_end:%H:%M:%S}.0000000",
            "timeZone": {"name": zone},
        },
    }


def _when(value: object, name: str) -> Json:
    if not isinstance(value, dict) or not value.get("dateTime"):
        raise bad_request(f"automaticRepliesSetting.{name} needs a dateTime and a timeZone.")
    try:
        instant = datetime.fromisoformat(str(value["dateTime"])[:26])
    except ValueError:
        raise bad_request(f"Cannot convert the literal '{value['dateTime']}' to a "
                          "DateTimeOffset.") from None
    # Graph answers with seven fractional digits, whatever was sent.
    return {"dateTime": f"{instant:%Y-%m-%dT%H:%M:%S}.0000000",
            "timeZone": str(value.get("timeZone") or "UTC")}


def patched_replies(current: Json, patch: object) -> Json:
    """``current`` automatic replies with a PATCH body's ``automaticRepliesSetting`` merged."""
    if not isinstance(patch, dict):
        raise bad_request("Empty Payload. JSON content expected.")
    change = patch.get("automaticRepliesSetting")
    if change is None:
        return current
    if not isinstance(change, dict):
        raise bad_request("Invalid automaticRepliesSetting.")
    out = {**current, **change}
    if out.get("status") not in _STATUSES:
        raise bad_request(f"Requested value '{out.get('status')}' was not found.")
    if out.get("externalAudience") not in _AUDIENCES:
        raise bad_request(f"Requested value '{out.get('externalAudience')}' was not found.")
    if out["status"] == "scheduled":
        for name in ("scheduledStartDateTime", "scheduledEndDateTime"):
            out[name] = _when(out.get(name), name)
    return out
