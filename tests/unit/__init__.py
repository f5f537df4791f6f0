"""Unit tests of the sans-I/O core: byte fixtures, no sockets, threads or sleeps."""
