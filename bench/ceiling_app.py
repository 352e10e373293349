"""The ceiling: the least work a request on this stack can do, served like meetbook.

One route, `POST /ceiling`, reads the same JSON body as `POST /api/v3/meeting/create`
and inserts one row into a small table in one transaction, on the same FastAPI,
uvicorn options, SQLAlchemy engine settings (meetbook's own `create_engine`: pool,
pre-ping, timeouts, WAL, and SQLite's write path: the in-process write lock, then
BEGIN IMMEDIATE, as every meetbook write takes) and driver. Whatever meetbook's
create costs beyond this is meetbook's own work: authentication, checks, the meeting,
its outbox rows, the response object.

    python -m bench.ceiling_app --port 8100 --workers 2   # MEETBOOK_DATABASE_URL as usual
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import BigInteger, Column, Integer, MetaData, Table, Text, insert

from meetbook.config import load_settings
from meetbook.db import create_engine
from meetbook.server import UVICORN_LIMITS, WORKER_HEALTHCHECK_SECONDS

metadata = MetaData()
# BigInteger with SQLite's INTEGER variant, like meetbook's ids, so SQLite auto-increments.
ceiling_rows = Table(
    "bench_ceiling_rows",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("user_id", BigInteger, nullable=False),
    Column("team_id", BigInteger, nullable=False),
    Column("date", Text, nullable=False),
    Column("link", Text),
)


def create_ceiling_app() -> FastAPI:
    """The uvicorn factory: settings from the environment, like meetbook's."""
    settings = load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.engine = create_engine(settings)
        try:
            yield
        finally:
            await app.state.engine.dispose()

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)

    @app.post("/ceiling", status_code=201)
    async def ceiling(request: Request) -> JSONResponse:
        data = json.loads(await request.body())
        async with request.app.state.engine.begin() as connection:
            row_id = await connection.scalar(
                insert(ceiling_rows)
                .values(
                    user_id=int(data["user_id"]),
                    team_id=int(data["team_id"]),
                    date=str(data["date"]),
                    link=data.get("link"),
                )
                .returning(ceiling_rows.c.id)
            )
        return JSONResponse({"id": row_id}, status_code=201)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


async def _create_table() -> None:
    engine = create_engine(load_settings())
    try:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()
    asyncio.run(_create_table())
    # The same call as meetbook.server.serve, so both stacks run under identical options.
    uvicorn.run(
        "bench.ceiling_app:create_ceiling_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers if args.workers > 1 else None,
        log_level=args.log_level,
        access_log=False,
        proxy_headers=True,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        **UVICORN_LIMITS,
    )


if __name__ == "__main__":
    main()
