"""The client side: ``Client`` and ``connect()`` (``client/websocket.py``) and the reconnecting
iterator built on them (``client/reconnecting.py``)."""

from .reconnecting import Reconnecting, RetryEvent, reconnecting
from .websocket import Client, connect

__all__ = ["Client", "Reconnecting", "RetryEvent", "connect", "reconnecting"]
