from django.urls import path

from . import views

urlpatterns = [
    path(
        "conversations/<dbid:conversation_id>/read/",
        views.ReadView.as_view(),
        name="conversation-read",
    ),
]
