"""faye_websocket test suite (a package so helpers import as tests.integration.components)."""
