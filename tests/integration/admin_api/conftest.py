"""Fixtures: the admin API app with its lifespan running on the session's real Redis and broker."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from services.admin_api.main import create_app
from tests.integration.admin_api.serving import Tokens, admin_settings


@pytest.fixture
def tokens() -> Tokens:
    return Tokens.fresh()


@pytest.fixture
async def app(redis_url: str, kafka_bootstrap: str, tokens: Tokens) -> AsyncIterator[FastAPI]:
    application = create_app(admin_settings(redis_url, kafka_bootstrap, tokens))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://admin-api") as http:
        yield http
