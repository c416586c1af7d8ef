from django.urls import path

from . import views

urlpatterns = [
    path("groups/", views.GroupCreateView.as_view(), name="groups"),
    path("groups/<int:group_id>/", views.GroupDetailView.as_view(), name="group"),
    path("groups/<int:group_id>/members/", views.GroupMembersView.as_view(), name="group-members"),
    path(
        "groups/<int:group_id>/members/<int:user_id>/",
        views.GroupMemberView.as_view(),
        name="group-member",
    ),
    path("groups/<int:group_id>/leave/", views.GroupLeaveView.as_view(), name="group-leave"),
]
