"""Networking helper for tests that start the app server."""

import socket


def free_port() -> int:
    """A free localhost port (the OS picks one; closed again before the server binds it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
