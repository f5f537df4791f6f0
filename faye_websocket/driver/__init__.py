"""The sans-I/O protocol core: bytes in, events and bytes out.

Nothing in this package touches a socket, a thread, a clock or user code; the blocking I/O layer
(``faye_websocket.connection.connection`` and friends) moves bytes between the network and these drivers.
"""
