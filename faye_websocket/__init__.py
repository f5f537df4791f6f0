"""faye_websocket: standards-compliant WebSocket server, client and EventSource for blocking Python."""

__version__ = "0.1.0"
