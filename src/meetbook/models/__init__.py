"""All tables, imported together so relationships and Alembic see one metadata."""

from meetbook.models.base import Base, utcnow
from meetbook.models.calendar import CalendarFeed, LinkedCalendar
from meetbook.models.history import MeetingHistory
from meetbook.models.invite import PasswordReset, TeamInvite
from meetbook.models.job import PeriodicJob
from meetbook.models.meeting import (
    MEETING_SECONDS,
    AnswerLinkUse,
    BusySlot,
    IdempotencyKey,
    Meeting,
)
from meetbook.models.notification import DevEmail, Device, Notification
from meetbook.models.team import Team, TeamMember
from meetbook.models.user import ApiToken, User
from meetbook.models.webhook import Webhook, WebhookAttempt

__all__ = [
    "MEETING_SECONDS",
    "AnswerLinkUse",
    "ApiToken",
    "Base",
    "BusySlot",
    "CalendarFeed",
    "DevEmail",
    "Device",
    "IdempotencyKey",
    "LinkedCalendar",
    "Meeting",
    "MeetingHistory",
    "Notification",
    "PasswordReset",
    "PeriodicJob",
    "Team",
    "TeamInvite",
    "TeamMember",
    "User",
    "Webhook",
    "WebhookAttempt",
    "utcnow",
]
