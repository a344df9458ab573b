"""The web console: sign-in, the new-integration steps, the integration list and pages.

Pages are server-rendered; what the browser does in place (test a handler, create it, save a
version, load a real event) goes through the JSON API with the signed-in session.
"""

from .routes import home, routes
from .security import csrf_middleware, headers_middleware

__all__ = ["csrf_middleware", "headers_middleware", "home", "routes"]
