from django.urls import path

from . import views

urlpatterns = [
    path(
        "conversations/<dbid:conversation_id>/threads/<dbid:root_id>/",
        views.ThreadView.as_view(),
        name="thread",
    ),
]
