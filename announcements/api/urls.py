from django.urls import path

from . import views

urlpatterns = [path("broadcasts/", views.BroadcastView.as_view(), name="broadcasts")]
