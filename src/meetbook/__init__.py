"""meetbook: self-hosted meeting requests for teams."""

from meetbook.zones import use_packaged_tzdata

__version__ = "0.1.0"

# Before any other module loads a zone: every ZoneInfo comes from the pinned tzdata.
use_packaged_tzdata()
