from django.urls import path

from . import views

urlpatterns = [
    path("bots/", views.BotListView.as_view(), name="bots"),
    path("bots/known/", views.BotKnownView.as_view(), name="bots-known"),
    path("bots/<dbid:bot_id>/", views.BotDetailView.as_view(), name="bot"),
    path("bots/<dbid:bot_id>/token/", views.BotTokenView.as_view(), name="bot-token"),
    path("me/tokens/", views.TokenListView.as_view(), name="api-tokens"),
    path("me/tokens/<dbid:token_id>/", views.TokenDetailView.as_view(), name="api-token"),
    path(
        "conversations/<dbid:conversation_id>/webhooks/",
        views.IncomingWebhookListView.as_view(),
        name="incoming-webhooks",
    ),
    path(
        "conversations/<dbid:conversation_id>/webhooks/<dbid:webhook_id>/",
        views.IncomingWebhookDetailView.as_view(),
        name="incoming-webhook-detail",
    ),
    path("webhooks/", views.OutgoingWebhookListView.as_view(), name="outgoing-webhooks"),
    path(
        "webhooks/<dbid:webhook_id>/",
        views.OutgoingWebhookDetailView.as_view(),
        name="outgoing-webhook",
    ),
    path(
        "webhooks/<dbid:webhook_id>/enable/",
        views.OutgoingWebhookEnableView.as_view(),
        name="outgoing-webhook-enable",
    ),
    path(
        "webhooks/<dbid:webhook_id>/deliveries/",
        views.DeliveryListView.as_view(),
        name="outgoing-webhook-deliveries",
    ),
    path("commands/", views.CommandListView.as_view(), name="commands"),
    path("commands/<dbid:command_id>/", views.CommandDetailView.as_view(), name="command"),
    path(
        "conversations/<dbid:conversation_id>/commands/",
        views.ConversationCommandsView.as_view(),
        name="conversation-commands",
    ),
]
