"""URLs of the chat example."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.page),
    path("chat/<str:room>", views.chat),
]
