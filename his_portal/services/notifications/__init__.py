"""签名状态通知: notifications to doctors, managers and administrators.

* :mod:`.core`: the kinds, :func:`notify` and :func:`notify_admins` (in the caller's
  transaction, deduplicated by key).
* :mod:`.inbox`: one person's own notifications (count, page, marking read).
* :mod:`.remind`: 催签, a manager's reminder to a doctor (in-app and SMS).
* :mod:`.events`: the notices the actions themselves send (batch results, 实名认证
  ended, seal changed).
* :mod:`.periodic`: the job that finds records past their deadline and certificates
  about to expire.
"""

from his_portal.services.notifications.core import (
    KIND_LABELS,
    Kind,
    notify,
    notify_admins,
)
from his_portal.services.notifications.inbox import (
    NotificationPage,
    NotificationRow,
    list_for,
    mark_all_read,
    mark_read,
    unread_count,
    unread_for_token,
)
from his_portal.services.notifications.remind import (
    REMIND_SMS_INTERVAL,
    RemindResult,
    remind,
)

__all__ = [
    "KIND_LABELS",
    "REMIND_SMS_INTERVAL",
    "Kind",
    "NotificationPage",
    "NotificationRow",
    "RemindResult",
    "list_for",
    "mark_all_read",
    "mark_read",
    "notify",
    "notify_admins",
    "remind",
    "unread_count",
    "unread_for_token",
]
