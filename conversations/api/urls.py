from django.urls import path

from . import views

urlpatterns = [
    path(
        "conversations/<dbid:conversation_id>/threads/<dbid:root_id>/",
        views.ThreadView.as_view(),
        name="thread",
    ),
    path(
        "conversations/<dbid:conversation_id>/messages/<dbid:message_id>/reactions/<str:emoji>/",
        views.ReactionView.as_view(),
        name="reaction",
    ),
    path("emoji/", views.EmojiSearchView.as_view(), name="emoji-search"),
]
