"""The extension framework (a port of websocket-extensions) and permessage-deflate (RFC 7692)."""
