"""Chat rooms shared by the Flask and Django examples: each text message goes to the whole room.

A room is a ``faye_websocket.broadcast.Group``: a publish is queued for every member and written
by the shared writer as each socket takes bytes, so a member that reads slowly holds up nobody
(past its backlog limit it is closed with 1013). Members leave by themselves when they close.
"""

from __future__ import annotations

import threading

from faye_websocket import WebSocket
from faye_websocket.broadcast import Group


class Rooms:
    """Named rooms, made on first use; every method is safe from any thread."""

    def __init__(self) -> None:
        self._groups: dict[str, Group] = {}
        self._lock = threading.Lock()  # guards _groups

    def chat(self, room: str, ws: WebSocket) -> None:
        """The whole session of one client, on its request's thread: join ``room``, publish each
        text message it sends (binary ones are ignored) until the connection closes."""
        group = self.group(room)
        group.join(ws)
        for message in ws:
            if isinstance(message, str):
                group.publish(message)

    def group(self, room: str) -> Group:
        """The group of ``room``."""
        with self._lock:
            group = self._groups.get(room)
            if group is None:
                group = self._groups[room] = Group(room)
            return group
