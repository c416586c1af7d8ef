from django.urls import path

from . import views

urlpatterns = [path("groups/", views.GroupCreateView.as_view(), name="groups")]
