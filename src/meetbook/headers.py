"""The security headers every response carries (CSP etc.).

A module of its own, importing nothing of meetbook's, so that both the middleware that
adds them and the 500 handler in errors.py (which answers outside that middleware) can
use them without importing each other.
"""

from __future__ import annotations

# No inline script anywhere (the docs page is the one exception, see below).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
# Swagger UI sets style attributes on its elements; its scripts are files of our own.
DOCS_CSP = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")


def security_headers(path: str) -> dict[str, str]:
    """The headers every response carries (the 500 handler adds them itself, see errors.py)."""
    return {
        "content-security-policy": DOCS_CSP if path == "/docs" else CSP,
        "x-content-type-options": "nosniff",
        "referrer-policy": "same-origin",
        "x-frame-options": "DENY",
        "cross-origin-opener-policy": "same-origin",
    }
