"""The fields a Connection's mixins share, declared for the type checker (no behaviour here).

``Connection`` (connection.py) is assembled from mixins, one file per concern: the write path
(writing.py), the broadcast writer's turn (broadcast_turn.py) and the ending (ending.py). Each
mixin subclasses ``ConnectionState``, which declares the attributes ``Connection._init_state``
sets and the methods one concern calls in another, so every file is checked on its own.
"""

from __future__ import annotations

import select
import threading
from collections import deque
from typing import TYPE_CHECKING

from ..events import CloseEvent, Event
from ..net.transport import Transport
from .budget import Holding
from .driver_like import DriverLike, FrameMaker
from .recv_queue import RecvQueue
from .roles import Role, Side
from .timers import Timers


class ConnectionState:
    """Attributes and cross-file methods of ``Connection``; see connection.py for their meaning."""

    driver: DriverLike
    _core: DriverLike
    side: Side
    url: str
    _transport: Transport | None
    _deadlines: Timers
    _lock: threading.Lock
    _write_lock: threading.Lock
    _read_lock: threading.Lock
    _outbox: deque[tuple[bytes, bool]]
    _outbox_size: int
    _reply_size: int
    _in_flight: int
    _events: deque[Event]
    _ended: bool
    _transport_closed: bool
    _peer_eof: bool
    _broken: BaseException | None
    _close_event: CloseEvent | None
    _reader_role: Role | None
    _queue: RecvQueue
    _holding: Holding
    _frame_to_write: FrameMaker | None

    if TYPE_CHECKING:
        # Called across files: defined in connection.py or in another mixin.
        def _on_reader_thread(self) -> bool: ...
        def _after_operation(self) -> None: ...
        def _arm_watchdog(self) -> None: ...
        def _network_message(self, error: BaseException) -> str: ...
        def _readable(self) -> select.poll: ...
        def _flush(self, *, block: bool) -> None: ...
        def _fail(self, message: str, error: BaseException | None) -> None: ...
        def _interrupt(self) -> None: ...
