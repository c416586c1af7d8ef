from django.urls import path

from . import views

urlpatterns = [
    path("push/webpush/", views.WebPushConfigView.as_view(), name="webpush-config"),
    path(
        "push/webpush/subscriptions/",
        views.WebPushSubscriptionView.as_view(),
        name="webpush-subscriptions",
    ),
]
