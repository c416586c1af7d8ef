from django.urls import path

from . import views

urlpatterns = [
    path("groups/", views.GroupCollectionView.as_view(), name="groups"),
    path("groups/<dbid:group_id>/join/", views.GroupJoinView.as_view(), name="group-join"),
    path("groups/<dbid:group_id>/invites/", views.GroupInvitesView.as_view(), name="invites"),
    path(
        "groups/<dbid:group_id>/invites/<str:code>/",
        views.GroupInviteView.as_view(),
        name="invite-revoke",
    ),
    path("invites/<str:code>/", views.InvitePreviewView.as_view(), name="invite"),
    path("invites/<str:code>/accept/", views.InviteAcceptView.as_view(), name="invite-accept"),
    path("groups/<dbid:group_id>/", views.GroupDetailView.as_view(), name="group"),
    path("groups/<dbid:group_id>/members/", views.GroupMembersView.as_view(), name="group-members"),
    path(
        "groups/<dbid:group_id>/members/<dbid:user_id>/",
        views.GroupMemberView.as_view(),
        name="group-member",
    ),
    path("groups/<dbid:group_id>/leave/", views.GroupLeaveView.as_view(), name="group-leave"),
]
