"""Blocking network plumbing that knows nothing of WebSocket frames: transports (plain, TLS, TLS in TLS),
TLS settings, dialing (DNS, TCP, proxies, TLS under one deadline) and proxy resolution."""
