"""Which end a connection is (``Side``) and why a thread reads it (``Role``)."""

from __future__ import annotations

from enum import Enum


class Side(Enum):
    """Which end of the connection we are (decides who closes TCP first)."""

    SERVER = "server"
    CLIENT = "client"


class Role(Enum):
    """Why the reading thread reads; every caller becomes the reader through ``_become_reader``."""

    LOOP = "run"  # run(): reads until CLOSED; a recv() or close() reading elsewhere hands over to it
    RECV = "recv"  # recv() on its caller's thread, until one message
    CLOSE = "close"  # close() (or the end of an abort) finishing the closing handshake; never waits
    OPEN = "open"  # wait_open(): a blocking connect() reading the handshake response
    IDLE = "keepalive"  # read_available(): a keepalive reading while nobody else does; never waits


# The readers whose messages may take the fast lane (see _feed): not close() (a closing
# connection delivers no message) nor wait_open() (a connect() keeps what came with the 101).
FAST_LANE_ROLES = frozenset({Role.LOOP, Role.RECV, Role.IDLE})
