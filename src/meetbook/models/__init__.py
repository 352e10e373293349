"""All tables, imported together so relationships and Alembic see one metadata."""

from meetbook.models.base import Base, utcnow
from meetbook.models.calendar import CalendarFeed, LinkedCalendar
from meetbook.models.history import MeetingHistory
from meetbook.models.job import PeriodicJob
from meetbook.models.meeting import MEETING_SECONDS, BusySlot, IdempotencyKey, Meeting
from meetbook.models.notification import DevEmail, Device, Notification
from meetbook.models.team import Team, TeamMember
from meetbook.models.user import ApiToken, User

__all__ = [
    "MEETING_SECONDS",
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
    "PeriodicJob",
    "Team",
    "TeamMember",
    "User",
    "utcnow",
]
