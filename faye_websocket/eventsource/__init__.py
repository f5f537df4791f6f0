"""Server-Sent Events both ways: the wire format and parser (sans-I/O), the writer on a taken-over
socket, the shared disconnect watcher, the WSGI form and the reading client."""
