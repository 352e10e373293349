"""Time zone rules come from the pinned `tzdata` package, never from the host.

`zoneinfo` reads the host's /usr/share/zoneinfo first and the `tzdata` package only when
a zone is missing there. Hosts lag behind: one running 2025b put America/Vancouver an
hour off for every meeting from November 2026 on, against the pinned 2026f. With the
search path emptied, every process (API, worker, CLI, tests) uses the package's data,
the same version everywhere, as `constraints.txt` pins it.
"""

from __future__ import annotations

import zoneinfo

import tzdata

__all__ = ["TZDATA_VERSION", "use_packaged_tzdata"]

# The IANA release inside the package, such as "2026f".
TZDATA_VERSION: str = tzdata.IANA_VERSION


def use_packaged_tzdata() -> None:
    """Make `ZoneInfo` and `available_timezones()` read only the `tzdata` package."""
    zoneinfo.reset_tzpath(to=[])
    # Zones loaded before this point (none in meetbook) would keep the host's rules.
    zoneinfo.ZoneInfo.clear_cache()
