"""Jinja2 rendering with autoescaping, the page layout's context and static file URLs."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from meetbook.i18n import current_locale, install_in_jinja
from meetbook.web.flash import clear_flashes, take_flashes
from meetbook.web.session import Viewer

WEB_DIR = Path(__file__).parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"


@functools.cache
def static_url(name: str) -> str:
    """`/static/<name>?v=<content hash>`: cacheable, and new after every change."""
    digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]
    return f"/static/{name}?v={digest}"


def _build_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static_url"] = static_url
    install_in_jinja(env)
    return env


ENVIRONMENT = _build_environment()


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    viewer: Viewer | None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render `template` in the layout; shows (and clears) the pending flash messages."""
    values: dict[str, Any] = {
        "viewer": viewer,
        "csrf_token": viewer.csrf_token if viewer else "",
        "flashes": take_flashes(request),
        "nav": "",
        "title": "meetbook",
        "lang": current_locale(),
    }
    values.update(context or {})
    html = ENVIRONMENT.get_template(template).render(values)
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    # Pages show personal data and one-time secrets: never keep them in a cache.
    response.headers["Cache-Control"] = "no-store"
    clear_flashes(request, response)
    return response
