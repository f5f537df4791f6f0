"""Integration tests: real sockets on 127.0.0.1, real peers and components."""
