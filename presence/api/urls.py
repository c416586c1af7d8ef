from django.urls import path

from . import views

urlpatterns = [path("presence/", views.PresenceView.as_view(), name="presence")]
