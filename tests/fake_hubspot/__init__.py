"""A local HubSpot look-alike served over real HTTP, for tests, benchmarks and the demo.

Not imported by product code (see DESIGN.md). Run it with `python -m tests.fake_hubspot`, or from
Python with `FakeHubSpot` / `start_fake_hubspot`.
"""

from .app import create_app
from .oauth import FAKE_CLIENT_ID, FAKE_CLIENT_SECRET
from .server import DEFAULT_TOKEN, FakeHubSpot, FakeHubSpotError, start_fake_hubspot
from .state import FakeState

__all__ = [
    "DEFAULT_TOKEN",
    "FAKE_CLIENT_ID",
    "FAKE_CLIENT_SECRET",
    "FakeHubSpot",
    "FakeHubSpotError",
    "FakeState",
    "create_app",
    "start_fake_hubspot",
]
