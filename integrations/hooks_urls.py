from django.urls import path

from .api import views

# Outside /api/: the URL handed to other tools, like Slack's hooks.slack.com/services/...
urlpatterns = [
    path("hooks/<str:secret>/", views.HookView.as_view(), name="incoming-webhook"),
]
