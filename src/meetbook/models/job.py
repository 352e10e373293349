from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from meetbook.models.base import Base, UTCDateTime


class PeriodicJob(Base):
    """One row per periodic job (retention, ...): when it is next due and who runs it.

    A worker leases the row before running the job, so with several workers each period's
    run happens once; a lease that runs out (worker killed) makes the job due again.
    """

    __tablename__ = "periodic_jobs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
