from django.urls import path

from . import views

urlpatterns = [
    path(
        "conversations/<int:conversation_id>/read/",
        views.ReadView.as_view(),
        name="conversation-read",
    ),
]
