"""The safety net: what PostgreSQL refuses as data (SQLSTATE class 22) is the caller's 422, while
every other database error stays a 500. Real PostgreSQL, through asyncpg and SQLAlchemy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from mci_testing.fixtures import MakeDatabase
from shared.db import create_engine
from shared.http import install_error_handlers


@pytest.fixture(scope="module")
async def app(make_database: MakeDatabase) -> AsyncIterator[FastAPI]:
    engine = create_engine(await make_database("api_db_errors"))
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/sqlalchemy/{kind}")
    async def through_sqlalchemy(kind: str, value: str) -> Any:
        statements = {
            "int4": "SELECT CAST(:v AS int4)",
            "text": "SELECT CAST(:v AS text)",
            "date": "SELECT CAST(:v AS date)",
            "missing_table": "SELECT * FROM no_such_table WHERE x = :v",
        }
        sql = statements[kind]
        bound: int | str = int(value) if kind == "int4" else value
        async with engine.connect() as conn:
            return (await conn.execute(sa.text(sql), {"v": bound})).scalar()

    @app.get("/asyncpg/int4")
    async def through_asyncpg(value: int) -> Any:
        async with engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            return await raw.fetchval("SELECT $1::int4", value)

    yield app
    await engine.dispose()


async def get(app: FastAPI, path: str, **params: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        return await http.get(path, params=params)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("/sqlalchemy/int4", str(2**40)),  # asyncpg refuses to encode it
        ("/sqlalchemy/text", "a\x00b"),  # PostgreSQL: 22021 character_not_in_repertoire
        ("/sqlalchemy/date", "2026-13-45"),  # asyncpg: not a date
        ("/asyncpg/int4", str(2**40)),
    ],
)
async def test_invalid_data_is_a_422(app: FastAPI, path: str, value: str) -> None:
    response = await get(app, path, value=value)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_value"
    assert error["details"][0]["type"] == "data_exception"


async def test_a_value_that_fits_passes_and_other_database_errors_stay_500(app: FastAPI) -> None:
    assert (await get(app, "/sqlalchemy/int4", value="41")).json() == 41
    broken = await get(app, "/sqlalchemy/missing_table", value="x")
    assert broken.status_code == 500
