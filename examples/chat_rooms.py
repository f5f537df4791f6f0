"""Chat rooms shared by the Flask and Django examples: each text message goes to the whole room.

A room is a set of WebSockets behind one lock. ``publish`` sends on the publisher's thread to
each member in turn, so a member that reads slowly slows that publisher down (its TCP window
pushes back); nothing queues up in memory.
"""

from __future__ import annotations

import threading

from faye_websocket import WebSocket


class Rooms:
    """Named rooms of WebSockets; every method is safe from any thread."""

    def __init__(self) -> None:
        self._members: dict[str, set[WebSocket]] = {}
        self._lock = threading.Lock()  # guards _members; never held while sending

    def chat(self, room: str, ws: WebSocket) -> None:
        """The whole session of one client, on its request's thread: join ``room``, publish each
        text message it sends (binary ones are ignored), leave once the connection has closed."""
        self.join(room, ws)
        try:
            for message in ws:
                if isinstance(message, str):
                    self.publish(room, message)
        finally:
            self.leave(room, ws)

    def join(self, room: str, ws: WebSocket) -> None:
        """Add ``ws`` to ``room``."""
        with self._lock:
            self._members.setdefault(room, set()).add(ws)

    def leave(self, room: str, ws: WebSocket) -> None:
        """Remove ``ws`` from ``room`` (forgetting the room once it is empty)."""
        with self._lock:
            members = self._members.get(room, set())
            members.discard(ws)
            if not members:
                self._members.pop(room, None)

    def publish(self, room: str, text: str) -> None:
        """Send ``text`` to every member of ``room``; a member that has gone is skipped."""
        with self._lock:
            members = list(self._members.get(room, ()))
        for member in members:
            member.send(text)  # False, not an error, for a member that has just closed
