"""The conformance cases, after Autobahn's sections, playable against a server or a client.

A case gets a ``Session`` on an open connection, sends frames and judges what the peer under
test does, with Autobahn's three verdicts: OK, NON-STRICT (allowed though not the strictest
behaviour, e.g. another close code) and FAILED. The same case runs in both directions: the
harness masks its frames when it plays the client (``Session.mask``) and expects the peer to
mask when it plays the server. The peer under test echoes every message; echo cases end with a
closing handshake started by the harness, which the peer must complete.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Callable

from .wire import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    Deflater,
    Inflater,
    Peer,
    build_frame,
    close_payload,
)

STEP_TIMEOUT = 5.0  # seconds the peer gets to answer one step
PERFORMANCE_TIMEOUT = 60.0  # for the large-message cases


class Verdict(Enum):
    OK = "OK"
    NON_STRICT = "NON-STRICT"
    FAILED = "FAILED"


@dataclass
class Outcome:
    verdict: Verdict
    detail: str = ""


@dataclass(frozen=True)
class F:
    """A frame to send: serialized by the session, masked when the harness plays the client."""

    opcode: int
    payload: bytes = b""
    fin: bool = True
    rsv: int = 0


@dataclass
class Received:
    """What the peer did next: a message, a control frame, a close, or it dropped TCP / said nothing."""

    kind: str  # "message", "ping", "pong", "close", "eof", "timeout", "protocol"
    opcode: int = 0
    data: bytes = b""
    code: int | None = None


@dataclass
class Session:
    """The harness's side of one case."""

    peer: Peer
    mask: bool  # True when the harness is the client
    timeout: float = STEP_TIMEOUT
    deflater: Deflater | None = None
    inflater: Inflater | None = None
    closed: bool = False
    log: list[str] = field(default_factory=list)

    def encode(self, *frames: F) -> bytes:
        return b"".join(
            build_frame(f.opcode, f.payload, fin=f.fin, rsv=f.rsv, mask=self.mask) for f in frames
        )

    def send(self, *frames: F) -> None:
        self.peer.send(self.encode(*frames))

    def send_chunked(self, frame: F, size: int) -> None:
        data = self.encode(frame)
        for start in range(0, len(data), size):
            self.peer.send(data[start : start + size])

    def send_message(self, opcode: int, payload: bytes, fragment: int | None = None) -> None:
        rsv = 0
        if self.deflater is not None:
            payload, rsv = self.deflater.compress(payload), 4
        if not fragment or len(payload) <= fragment:
            self.send(F(opcode, payload, rsv=rsv))
            return
        chunks = [payload[i : i + fragment] for i in range(0, len(payload), fragment)]
        self.send(
            *(
                F(opcode if i == 0 else CONTINUATION, c, i == len(chunks) - 1, rsv if i == 0 else 0)
                for i, c in enumerate(chunks)
            )
        )

    def receive(self) -> Received:
        deadline = time.monotonic() + self.timeout
        parts: list[bytes] = []
        opcode = compressed = 0
        while True:
            frame = self.peer.read_frame(deadline)
            if frame is None:
                return Received("eof" if self.peer.eof else "timeout")
            if frame.masked == self.mask:  # RFC 6455 section 5.1: only clients mask
                return Received("protocol", data=b"wrong masking")
            if frame.opcode == CLOSE:
                code = int.from_bytes(frame.payload[:2], "big") if len(frame.payload) >= 2 else None
                return Received("close", CLOSE, frame.payload, code)
            if frame.opcode in (PING, PONG):
                return Received("ping" if frame.opcode == PING else "pong", frame.opcode, frame.payload)
            if frame.opcode != CONTINUATION:
                opcode, compressed = frame.opcode, frame.rsv & 4
            parts.append(frame.payload)
            if frame.fin:
                data = b"".join(parts)
                if compressed and self.inflater is not None:
                    data = self.inflater.inflate(data)
                return Received("message", opcode, data)

    def expect_echo(self, opcode: int, payload: bytes) -> Outcome:
        got = self.receive()
        if got.kind != "message":
            return Outcome(Verdict.FAILED, f"expected an echo, got {got.kind} {got.code or ''}")
        if got.opcode != opcode or got.data != payload:
            return Outcome(Verdict.FAILED, f"echo differs: opcode {got.opcode}, {len(got.data)} bytes")
        return Outcome(Verdict.OK)

    def expect_pong(self, payload: bytes) -> Outcome:
        got = self.receive()
        if got.kind == "pong" and got.data == payload:
            return Outcome(Verdict.OK)
        return Outcome(Verdict.FAILED, f"expected a pong of {len(payload)} bytes, got {got.kind}")

    def expect_failure(self, *codes: int) -> Outcome:
        """The peer must fail the connection: a close frame with one of ``codes``, or TCP closed."""
        got = self.receive()
        while got.kind in ("message", "pong"):  # echoes of what came before the bad frame
            got = self.receive()
        self.closed = True
        if got.kind == "close":
            self.send(F(CLOSE, got.data[:2]))  # complete the closing handshake, as Autobahn does
        if got.kind == "close" and got.code in codes:
            return Outcome(Verdict.OK)
        if got.kind == "eof":
            return Outcome(Verdict.OK, "closed TCP without a close frame")
        if got.kind == "close":
            return Outcome(Verdict.NON_STRICT, f"closed with {got.code}, expected {codes}")
        return Outcome(Verdict.FAILED, f"expected the connection to fail, got {got.kind}")

    def expect_close_echo(self, code: int | None) -> Outcome:
        """After our close frame: the peer answers with a close frame (code echoed)."""
        got = self.receive()
        while got.kind in ("message", "pong"):
            got = self.receive()
        self.closed = True
        if got.kind != "close":
            return Outcome(Verdict.FAILED, f"expected a close frame, got {got.kind}")
        if code is not None and got.code != code:
            return Outcome(Verdict.NON_STRICT, f"close echoed {got.code}, sent {code}")
        return Outcome(Verdict.OK)

    def close(self, code: int = 1000) -> Outcome:
        self.send(F(CLOSE, close_payload(code)))
        return self.expect_close_echo(code)


@dataclass
class Case:
    id: str
    description: str
    run: Callable[[Session], Outcome]
    deflate: str | None = None  # extension parameters (the server's answer / the client's offer)
    timeout: float = STEP_TIMEOUT


def both(*outcomes: Outcome) -> Outcome:
    for wanted in (Verdict.FAILED, Verdict.NON_STRICT):
        for outcome in outcomes:
            if outcome.verdict is wanted:
                return outcome
    return Outcome(Verdict.OK)


CASES: list[Case] = []


def add(case_id: str, description: str, run: Callable[[Session], Outcome], **options: object) -> None:
    CASES.append(Case(case_id, description, run, **options))  # type: ignore[arg-type]


def echo(opcode: int, payload: bytes, fragment: int | None = None) -> Callable[[Session], Outcome]:
    def run(s: Session) -> Outcome:
        s.send_message(opcode, payload, fragment)
        return both(s.expect_echo(opcode, payload), s.close())

    return run


def failure(*frames: F, codes: tuple[int, ...] = (1002,)) -> Callable[[Session], Outcome]:
    def run(s: Session) -> Outcome:
        s.send(*frames)
        return s.expect_failure(*codes)

    return run


def chunked_echo(s: Session) -> Outcome:
    s.send_chunked(F(TEXT, b"*" * 65536), 997)
    return both(s.expect_echo(TEXT, b"*" * 65536), s.close())


# 1: framing, text and binary messages of edge lengths
for index, length in enumerate((0, 125, 126, 127, 128, 65535, 65536), 1):
    add(f"1.1.{index}", f"text message of {length} bytes", echo(TEXT, b"*" * length))
    add(f"1.2.{index}", f"binary message of {length} bytes", echo(BINARY, b"\xfe" * length))
add("1.1.8", "text message of 65536 bytes sent in 997-byte chunks", chunked_echo)


# 2: pings and pongs
def ping_case(payload: bytes, chunked: bool = False) -> Callable[[Session], Outcome]:
    def run(s: Session) -> Outcome:
        if chunked:
            s.send_chunked(F(PING, payload), 1)
        else:
            s.send(F(PING, payload))
        return both(s.expect_pong(payload), s.close())

    return run


def ignored(*frames: F) -> Callable[[Session], Outcome]:
    def run(s: Session) -> Outcome:
        s.send(*frames)
        return s.close()

    return run


def ten_pings(s: Session) -> Outcome:
    s.send(*(F(PING, b"ping %d" % i) for i in range(10)))
    return both(*[s.expect_pong(b"ping %d" % i) for i in range(10)], s.close())


add("2.1", "ping without payload", ping_case(b""))
add("2.2", "ping with text payload", ping_case(b"Hello, world!"))
add("2.3", "ping with binary payload", ping_case(bytes([0, 255, 254, 253, 252, 251, 0, 255])))
add("2.4", "ping with 125-byte payload", ping_case(b"\xfe" * 125))
add("2.5", "ping with 126-byte payload", failure(F(PING, b"\xfe" * 126)))
add("2.6", "ping with 125-byte payload sent byte by byte", ping_case(b"\xfe" * 125, chunked=True))
add("2.7", "unsolicited pong is ignored", ignored(F(PONG)))
add("2.8", "unsolicited pong with payload is ignored", ignored(F(PONG, b"unsolicited")))
add("2.10", "ten pings in a row, each answered", ten_pings)

# 3: reserved bits
add("3.1", "RSV1 on a text frame", failure(F(TEXT, b"Hello", rsv=1)))
add(
    "3.2",
    "RSV2 on a text frame after a valid one",
    failure(F(TEXT, b"Hello"), F(TEXT, b"Hello", rsv=2), F(PING)),
)
add("3.3", "RSV1+3 on a text frame", failure(F(TEXT, b"Hello", rsv=5)))
add("3.4", "RSV1+2 on a binary frame", failure(F(BINARY, b"\x00\xff", rsv=3)))
add("3.5", "RSV on a ping", failure(F(PING, b"Hello", rsv=5)))
add("3.6", "RSV on a close", failure(F(CLOSE, close_payload(1000), rsv=6)))
add("3.7", "RSV on a continuation", failure(F(TEXT, b"a", fin=False), F(CONTINUATION, b"b", rsv=7)))

# 4: reserved opcodes
for index, opcode in enumerate((3, 4, 5, 6, 7), 1):
    add(f"4.1.{index}", f"reserved data opcode {opcode}", failure(F(opcode, b"x")))
for index, opcode in enumerate((0xB, 0xC, 0xD, 0xE, 0xF), 1):
    add(f"4.2.{index}", f"reserved control opcode {opcode}", failure(F(TEXT, b"before"), F(opcode, b"x")))


# 5: fragmentation
def ping_between_fragments(s: Session) -> Outcome:
    s.send(F(TEXT, b"fragment1", fin=False), F(PING, b"ping"), F(CONTINUATION, b"fragment2"))
    return both(s.expect_pong(b"ping"), s.expect_echo(TEXT, b"fragment1fragment2"), s.close())


add("5.1", "fragmented ping", failure(F(PING, b"frag", fin=False), F(CONTINUATION, b"ment")))
add("5.2", "fragmented pong", failure(F(PONG, b"frag", fin=False), F(CONTINUATION, b"ment")))
add("5.3", "text message in two fragments", echo(TEXT, b"fragment1fragment2", fragment=9))
add("5.4", "binary message in 1-byte fragments", echo(BINARY, bytes(range(64)), fragment=1))
add("5.6", "ping between fragments", ping_between_fragments)
add("5.9", "continuation without a message", failure(F(CONTINUATION, b"x")))
add(
    "5.10",
    "unfinished continuation without a message",
    failure(F(CONTINUATION, b"x", fin=False), F(TEXT, b"y")),
)
add("5.15", "new text message inside a fragmented one", failure(F(TEXT, b"a", fin=False), F(TEXT, b"b")))
add("5.18", "two starting text fragments", failure(F(TEXT, b"a", fin=False), F(TEXT, b"b", fin=False)))

# 6: UTF-8
VALID_TEXT = [
    "",
    "Hello-µ@ßöäüàá-UTF-8!!",
    "κόσμε",
    "\U00010000",
    "\U0010ffff",
    "\ufffd",
    "\x7f",
    "\u07ff",
    "\ud7ff",
    "\ue000",
]
for index, text in enumerate(VALID_TEXT, 1):
    add(f"6.2.{index}", f"valid UTF-8 text {text!r}", echo(TEXT, text.encode()))
    add(f"6.3.{index}", f"valid UTF-8 text {text!r} in 1-byte fragments", echo(TEXT, text.encode(), 1))
INVALID_TEXT = [
    b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64",
    b"\xf4\x90\x80\x80",
    b"\xc0\xaf",
    b"\xe0\x80\xaf",
    b"\xed\xa0\x80",
    b"\xed\xbf\xbf",
    b"\xff",
    b"\xfe",
    b"\x80",
    b"\xc2",
    b"\xf8\x88\x80\x80\x80",
    b"\xce\xba\xe1\xbd",
]
for index, data in enumerate(INVALID_TEXT, 1):
    add(f"6.4.{index}", f"invalid UTF-8 {data.hex()}", failure(F(TEXT, data), codes=(1007,)))
    add(
        f"6.5.{index}",
        f"invalid UTF-8 {data.hex()} fragmented",
        failure(F(TEXT, data[:1], fin=False), F(CONTINUATION, data[1:]), codes=(1007,)),
    )


# 7: closing
def close_case(*frames: F, code: int | None) -> Callable[[Session], Outcome]:
    def run(s: Session) -> Outcome:
        s.send(*frames)
        return s.expect_close_echo(code)

    return run


CLOSE_1000 = F(CLOSE, close_payload(1000))
add("7.1.1", "echo then a normal close", echo(TEXT, b"Hello World!"))
add("7.1.2", "close twice", close_case(CLOSE_1000, CLOSE_1000, code=1000))
add("7.1.3", "ping after close is ignored", close_case(CLOSE_1000, F(PING, b"x"), code=1000))
add("7.1.4", "text after close is ignored", close_case(CLOSE_1000, F(TEXT, b"x"), code=1000))
add("7.3.1", "close with an empty payload", close_case(F(CLOSE), code=None))
add("7.3.2", "close with a 1-byte payload", failure(F(CLOSE, b"\x03")))
add("7.3.3", "close with a code only", close_case(CLOSE_1000, code=1000))
add(
    "7.3.4",
    "close with a code and a reason",
    close_case(F(CLOSE, close_payload(1000, b"Hello World!")), code=1000),
)
add("7.3.5", "close with a 123-byte reason", close_case(F(CLOSE, close_payload(1000, b"*" * 123)), code=1000))
add("7.3.6", "close with a 124-byte reason (payload 126)", failure(F(CLOSE, close_payload(1000, b"*" * 124))))
add(
    "7.5.1",
    "close reason that is not UTF-8",
    failure(F(CLOSE, close_payload(1000, INVALID_TEXT[0])), codes=(1007,)),
)
for index, code in enumerate(
    (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999), 1
):
    add(
        f"7.7.{index}",
        f"valid close code {code} is echoed",
        close_case(F(CLOSE, close_payload(code)), code=code),
    )
for index, code in enumerate((0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999, 5000, 65535), 1):
    add(f"7.9.{index}", f"invalid close code {code}", failure(F(CLOSE, close_payload(code))))

# 9: performance (large and many messages)
for index, size in enumerate((1 << 16, 1 << 18, 1 << 20, 1 << 22, 1 << 24), 1):
    add(f"9.1.{index}", f"text message of {size} bytes", echo(TEXT, b"*" * size), timeout=PERFORMANCE_TIMEOUT)
    add(
        f"9.2.{index}",
        f"binary message of {size} bytes",
        echo(BINARY, b"\xfe" * size),
        timeout=PERFORMANCE_TIMEOUT,
    )
for index, fragment in enumerate((64, 256, 1024, 4096, 16384, 65536), 1):
    add(
        f"9.4.{index}",
        f"4 MiB binary message in {fragment}-byte fragments",
        echo(BINARY, b"\xfe" * (1 << 22), fragment),
        timeout=PERFORMANCE_TIMEOUT,
    )


def many_messages(count: int, size: int) -> Callable[[Session], Outcome]:
    def run(s: Session) -> Outcome:
        payload = b"*" * size
        s.send(*([F(TEXT, payload)] * count))
        return both(*[s.expect_echo(TEXT, payload) for _ in range(count)], s.close())

    return run


add("9.7.1", "1000 text messages of 0 bytes", many_messages(1000, 0), timeout=PERFORMANCE_TIMEOUT)
add("9.7.3", "1000 text messages of 64 bytes", many_messages(1000, 64), timeout=PERFORMANCE_TIMEOUT)
add("10.1.1", "65536-byte text message in 1300-byte fragments", echo(TEXT, b"*" * 65536, 1300))

# 12/13: permessage-deflate with each parameter set (the server's answer when the harness is the
# server; the client's offer when the harness is the client)
DEFLATE_PARAMS = {
    "1": "permessage-deflate",
    "2": "permessage-deflate; server_no_context_takeover",
    "3": "permessage-deflate; client_no_context_takeover",
    "4": "permessage-deflate; server_max_window_bits=9",
    "5": "permessage-deflate; client_max_window_bits=9",
    "6": "permessage-deflate; server_max_window_bits=15; client_max_window_bits=15",
    "7": "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
    "client_max_window_bits=9",
    "8": "permessage-deflate; server_max_window_bits=8",
    "9": "permessage-deflate; client_max_window_bits=8",
    "10": "permessage-deflate; server_max_window_bits=8; client_max_window_bits=8; "
    "server_no_context_takeover",
}
PAYLOADS = {
    "1": b'{"id": 1, "name": "faye", "tags": ["a", "b"]}' * 20,
    "2": bytes(range(256)) * 64,
    "3": b"",
    "4": "κόσμε ".encode() * 1000,
}


def deflate_echo(payload: bytes, opcode: int) -> Callable[[Session], Outcome]:
    def run(s: Session) -> Outcome:
        results = []
        for _ in range(3):  # context takeover shows on the second and third message
            s.send_message(opcode, payload)
            results.append(s.expect_echo(opcode, payload))
        return both(*results, s.close())

    return run


for params_id, params in DEFLATE_PARAMS.items():
    for payload_id, payload in PAYLOADS.items():
        add(
            f"13.{params_id}.{payload_id}",
            f"deflate with {params!r}, payload {payload_id}",
            deflate_echo(payload, BINARY if payload_id == "2" else TEXT),
            deflate=params,
        )
