"""Declaring Flask routes and Django views: options are checked when the view is declared, the
rule matches WebSocket upgrades only, and the decorators keep the view's name."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Blueprint, Flask

from faye_websocket.frameworks.django import event_stream_view, websocket_view
from faye_websocket.frameworks.flask import event_stream_route, websocket_route


def handler(*args: Any) -> None:
    """A view that is never called here."""


def test_flask_rejects_an_unknown_websocket_option_when_the_route_is_declared() -> None:
    with pytest.raises(TypeError, match="unknown WebSocket option.*pingg"):
        websocket_route(Flask(__name__), "/ws", pingg=20)


def test_flask_rejects_an_unknown_event_stream_option_when_the_route_is_declared() -> None:
    with pytest.raises(TypeError, match="unknown EventSource option.*protocols"):
        event_stream_route(Flask(__name__), "/events", protocols=["chat"])


def test_flask_registers_a_websocket_rule_and_returns_the_view_unchanged() -> None:
    app = Flask(__name__)
    assert websocket_route(app, "/chat/<room>", ["chat"], ping=20)(handler) is handler
    (rule,) = [rule for rule in app.url_map.iter_rules() if rule.endpoint == "handler"]
    assert rule.websocket
    assert rule.rule == "/chat/<room>"


def test_flask_routes_on_a_blueprint_with_the_blueprints_endpoint_prefix() -> None:
    app, blueprint = Flask(__name__), Blueprint("rooms", __name__)
    websocket_route(blueprint, "/chat/<room>", endpoint="chat")(handler)
    event_stream_route(blueprint, "/feed")(handler)
    app.register_blueprint(blueprint, url_prefix="/rooms")
    rules = {rule.endpoint: rule for rule in app.url_map.iter_rules()}
    assert rules["rooms.chat"].rule == "/rooms/chat/<room>" and rules["rooms.chat"].websocket
    assert rules["rooms.handler"].rule == "/rooms/feed" and not rules["rooms.handler"].websocket


def test_django_rejects_an_unknown_option_when_the_view_is_declared() -> None:
    with pytest.raises(TypeError, match="unknown WebSocket option.*retry"):
        websocket_view(retry=10)
    with pytest.raises(TypeError, match="unknown EventSource option.*origin"):
        event_stream_view(origin=["https://example.com"])


def test_django_decorators_work_bare_and_with_options_and_keep_the_views_name() -> None:
    for decorated in (websocket_view(handler), websocket_view(protocols=["chat"], ping=20)(handler),
                      event_stream_view(handler), event_stream_view(retry=10)(handler)):
        assert decorated.__name__ == "handler"
        assert decorated is not handler
