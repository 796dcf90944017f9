"""The hardening suite drives the real local server too."""

from tests.e2e.conftest import LocalServer, server

__all__ = ["LocalServer", "server"]
