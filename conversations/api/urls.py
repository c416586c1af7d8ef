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
    path(
        "conversations/<dbid:conversation_id>/messages/<dbid:message_id>/edits/",
        views.MessageEditsView.as_view(),
        name="message-edits",
    ),
    path("conversations/<dbid:conversation_id>/pins/", views.PinListView.as_view(), name="pins"),
    path(
        "conversations/<dbid:conversation_id>/pins/<dbid:message_id>/",
        views.PinView.as_view(),
        name="pin",
    ),
    path("emoji/", views.EmojiSearchView.as_view(), name="emoji-search"),
]
