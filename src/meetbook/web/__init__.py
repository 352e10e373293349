"""The server-rendered web page (being built: see issue 4)."""

from fastapi import FastAPI


def install_web(app: FastAPI) -> None:
    """Mount the page's routes and static files on `app`."""
