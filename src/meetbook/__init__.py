"""meetbook: self-hosted meeting requests for teams."""

__version__ = "0.1.0"
