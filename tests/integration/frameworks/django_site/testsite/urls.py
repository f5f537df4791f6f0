"""URLs of the framework tests' site."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.index),
    path("login/<str:name>", views.login_as),
    path("stats", views.stats),
    path("echo/<str:room>", views.echo),
    path("private/<str:room>", views.private),
    path("closing/<str:room>", views.closing),
    path("trusted", views.trusted),
    path("events/<int:count>", views.events),
]
