"""Fixtures: a provisioned config, the fake daemon, and the web admin on a real 127.0.0.1 port."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from provisioning.passwords import hash_password
from provisioning.schema import Config
from provisioning.validate import config_from_data
from provisioning.web.auth import LoginLimiter
from provisioning.web.server import create_app
from tests.web.fake_backend import FakeBackend

PASSWORD = "correct horse battery"
LINE_PASSWORD = "line-secret-991"
XSS = "<script>alert(1)</script>"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_config(password: str = PASSWORD) -> Config:
    return config_from_data(
        {
            "device": {"name": "bench-ata", "country": "us"},
            "lines": [
                {
                    "proxy": "pbx.example.net",
                    "user": "1001",
                    "password": LINE_PASSWORD,
                    "display_name": "Kitchen",
                },
                {"enabled": False},
            ],
            # cheap scrypt parameters keep the tests fast; verification reads them from the hash
            "admin": {"password_hash": hash_password(password, n=1024) if password else ""},
        }
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend(make_config())


@pytest.fixture
def announced() -> list[str]:
    return []


@pytest.fixture
async def client(
    backend: FakeBackend, clock: Clock, announced: list[str]
) -> AsyncIterator[TestClient]:
    app = create_app(
        backend, clock=clock, announce=announced.append, limiter=LoginLimiter(max_s=60.0)
    )
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        yield test_client


def field_value(page: str, name: str) -> str:
    match = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', page)
    assert match, f"no field {name}"
    return match.group(1)


async def login(client: TestClient, password: str = PASSWORD) -> str:
    """Log in through the form; return the session's CSRF token."""
    page = await (await client.get("/login")).text()
    response = await client.post(
        "/login",
        data={"login_token": field_value(page, "login_token"), "password": password},
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    status = await (await client.get("/")).text()
    return field_value(status, "csrf")
