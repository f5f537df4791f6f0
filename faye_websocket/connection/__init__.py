"""The per-connection I/O loop shared by server and client, with its timers, watchdog and recv() queue."""
