"""The daemon's submit socket, both ends: its address and one JSON message per line.

Light on purpose (os, json, socket): the `task create` client imports it, and its whole
point is to skip the imports of a local submit (cli/daemon_submit.py). The server is
orchestration/submit_server.py.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

PROTOCOL = 1
MAX_MESSAGE = 4 * 1024 * 1024  # a request or an answer; a batch of plans stays far below
# sockaddr_un holds 108 bytes; a longer path is reached through the directory's descriptor.
_MAX_PATH = 100


@contextmanager
def address(path: str) -> Iterator[str]:
    """A name for the socket at `path` that bind/connect accept, however long the path."""
    if len(os.fsencode(path)) < _MAX_PATH:
        yield path
        return
    folder, name = os.path.split(path)
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        yield f"/proc/self/fd/{fd}/{name}"
    finally:
        os.close(fd)


def send(sock: socket.socket, message: dict[str, Any]) -> None:
    """One message: compact JSON and a newline."""
    sock.sendall(json.dumps(message, separators=(",", ":"), default=str).encode() + b"\n")


def receive(sock: socket.socket) -> dict[str, Any] | None:
    """The next message, or None when the peer closed (or broke) the connection before a
    whole one arrived, or sent something that is not one."""
    chunks: list[bytes] = []
    size = 0
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionError, TimeoutError, OSError):
            return None
        if not chunk:
            return None
        if b"\n" in chunk:
            chunks.append(chunk[: chunk.index(b"\n")])
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_MESSAGE:
            return None
    try:
        message = json.loads(b"".join(chunks))
    except ValueError:
        return None
    return message if isinstance(message, dict) else None
