"""Ways to hand a connection to a WebSocket: http.server, socketserver and WSGI servers."""
