"""Console fixtures: the app in-process with a browser-like client, and a signed-in owner."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from engine.app import create_app
from engine.settings import load_settings
from tests.harness import API_TOKEN, SECRET_KEY

OWNER = "owner"
PASSWORD = "correct horse battery"
BROWSER = {"Accept": "text/html,application/xhtml+xml"}


@pytest.fixture
def console(redis_url, hubspot, tmp_path: Path) -> Iterator[TestClient]:
    """A client that behaves like a browser: cookies, no API token."""
    settings = load_settings(
        {
            "PAYBRIDGE_REDIS_URL": redis_url,
            "PAYBRIDGE_API_TOKEN": API_TOKEN,
            "PAYBRIDGE_SECRET_KEY": SECRET_KEY,
            "PAYBRIDGE_DATA_DIR": str(tmp_path),
            "PAYBRIDGE_HUBSPOT_API_BASE": hubspot.base_url,
        }
    )
    with TestClient(create_app(settings), headers=BROWSER, follow_redirects=False) as client:
        yield client


@pytest.fixture
def owner(console: TestClient) -> TestClient:
    """The console client, signed in as the owner created on first run."""
    token = csrf_of(console.get("/setup").text)
    response = console.post(
        "/setup",
        data={
            "csrftoken": token,
            "api_token": API_TOKEN,
            "name": OWNER,
            "password": PASSWORD,
            "password_again": PASSWORD,
        },
    )
    assert response.status_code == 303, response.text
    return console


def csrf_of(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert match, "the page carries no CSRF token"
    return match.group(1)
