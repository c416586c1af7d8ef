from django.urls import path

from . import views

urlpatterns = [
    path("conversations/", views.ConversationListView.as_view(), name="conversations"),
    path(
        "conversations/direct/", views.DirectConversationView.as_view(), name="conversation-direct"
    ),
    path(
        "conversations/<dbid:conversation_id>/messages/",
        views.MessageListView.as_view(),
        name="messages",
    ),
    path(
        "conversations/<dbid:conversation_id>/messages/<dbid:message_id>/",
        views.MessageView.as_view(),
        name="message",
    ),
    path(
        "conversations/<dbid:conversation_id>/changes/",
        views.ChangeListView.as_view(),
        name="changes",
    ),
    path(
        "conversations/<dbid:conversation_id>/membership/",
        views.MembershipView.as_view(),
        name="membership",
    ),
]
