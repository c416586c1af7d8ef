from django.urls import path

from . import views

urlpatterns = [
    path("groups/", views.GroupCreateView.as_view(), name="groups"),
    path("groups/<dbid:group_id>/", views.GroupDetailView.as_view(), name="group"),
    path("groups/<dbid:group_id>/members/", views.GroupMembersView.as_view(), name="group-members"),
    path(
        "groups/<dbid:group_id>/members/<dbid:user_id>/",
        views.GroupMemberView.as_view(),
        name="group-member",
    ),
    path("groups/<dbid:group_id>/leave/", views.GroupLeaveView.as_view(), name="group-leave"),
]
