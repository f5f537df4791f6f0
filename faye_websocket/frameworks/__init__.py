"""Framework integrations: Flask and Django views that take the connection over.

``faye_websocket.frameworks.flask`` (route decorators for a Flask app or blueprint) and
``faye_websocket.frameworks.django`` (view decorators) each import their framework; neither is a
run-time dependency of the package, so nothing is imported here. ``views`` holds what both share.
"""
