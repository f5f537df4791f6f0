"""The server side: a WebSocket built from an http.server handler, a socketserver request or a WSGI
environ, and the adapters that serve it (http.server, socketserver, WSGI)."""
