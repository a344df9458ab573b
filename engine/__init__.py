"""The web side of paybridge: ingress, JSON API, storage in Redis, settings, the CLI."""

from .app import create_app
from .settings import Settings, load_settings
from .storage import Storage

__all__ = ["Settings", "Storage", "create_app", "load_settings"]
