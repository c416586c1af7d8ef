from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from groups.invites import (
    group_join,
    group_visibility_set,
    invite_accept,
    invite_create,
    invite_revoke,
)
from groups.selectors import (
    group_detail,
    group_member,
    group_members,
    invite_preview,
    member_groups,
    public_groups,
)
from groups.services import (
    group_create,
    group_leave,
    group_member_add,
    group_member_remove,
    group_member_role_set,
    group_update,
)
from messaging.api.serializers import (
    ConversationSerializer,
    ErrorSerializer,
    UserRefSerializer,
)
from messaging.api.views import conversation_summary
from messaging.models import Membership

ROLES = Membership.Role.choices
ERRORS = {400: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer}


class GroupCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    members = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        default=list,
        max_length=10_000,
    )
    visibility = serializers.ChoiceField(
        choices=["private", "public"], default="private", help_text="public: listed, anyone joins"
    )


class GroupSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    owner = UserRefSerializer(allow_null=True)
    member_count = serializers.IntegerField()
    member_limit = serializers.IntegerField()
    your_role = serializers.ChoiceField(choices=ROLES)
    last_seq = serializers.IntegerField()
    visibility = serializers.ChoiceField(choices=["private", "public"])


class GroupUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False)
    description = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    visibility = serializers.ChoiceField(choices=["private", "public"], required=False)


class GroupMemberSerializer(serializers.Serializer):
    user = UserRefSerializer()
    role = serializers.ChoiceField(choices=ROLES)
    joined_at = serializers.DateTimeField()
    delivered_seq = serializers.IntegerField(
        help_text="The member's delivery cursor (as in `receipt` frames)"
    )
    read_seq = serializers.IntegerField(
        help_text="The member's read cursor: they have read every message up to this seq"
    )


class MemberAddSerializer(serializers.Serializer):
    user = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    role = serializers.CharField(
        default="member", help_text="`member` (default) or `admin` (only the owner adds admins)"
    )


class MemberRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(
        choices=ROLES, help_text="`owner` hands ownership over; the old owner becomes an admin."
    )


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class GroupCreateView(APIView):
    @extend_schema(
        request=GroupCreateSerializer,
        responses={201: ConversationSerializer, 400: ErrorSerializer},
        description="Creates a group owned by the caller. Its id is a conversation id.",
    )
    def post(self, request: Request) -> Response:
        serializer = GroupCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        group = group_create(
            creator=request.user,
            name=serializer.validated_data["name"],
            member_ids=serializer.validated_data["members"],
        )
        if serializer.validated_data["visibility"] != "private":
            group_visibility_set(
                actor=request.user,
                group_id=group.pk,
                visibility=serializer.validated_data["visibility"],
            )
        return Response(
            conversation_summary(user_id=request.user.pk, conversation_id=group.pk),
            status=status.HTTP_201_CREATED,
        )


class GroupDetailView(APIView):
    @extend_schema(
        responses={200: GroupSerializer, 404: ErrorSerializer},
        description="The group, for its members (others get 404).",
    )
    def get(self, request: Request, group_id: int) -> Response:
        return Response(group_detail(user_id=request.user.pk, group_id=group_id))

    @extend_schema(
        request=GroupUpdateSerializer,
        responses={200: GroupSerializer, **ERRORS},
        description="Owner and admins: rename / describe the group. Stored as a system message.",
    )
    def patch(self, request: Request, group_id: int) -> Response:
        serializer = GroupUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        visibility = changes.pop("visibility", None)
        if changes or visibility is None:
            group_update(actor=request.user, group_id=group_id, **changes)
        if visibility is not None:
            group_visibility_set(actor=request.user, group_id=group_id, visibility=visibility)
        return Response(group_detail(user_id=request.user.pk, group_id=group_id))


class GroupMembersView(APIView):
    @extend_schema(responses={200: GroupMemberSerializer(many=True), 404: ErrorSerializer})
    def get(self, request: Request, group_id: int) -> Response:
        return Response(group_members(user_id=request.user.pk, group_id=group_id))

    @extend_schema(
        request=MemberAddSerializer,
        responses={201: GroupMemberSerializer, 409: ErrorSerializer, **ERRORS},
        description="Owner and admins add a member (only the owner adds an admin). The new "
        "member sees the history from their join on. 400 `member_limit` when the group is "
        "full (setting PARLEY_GROUP_MEMBER_LIMIT); 409 when already a member.",
    )
    def post(self, request: Request, group_id: int) -> Response:
        serializer = MemberAddSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        group_member_add(
            actor=request.user, group_id=group_id, user_id=data["user"], role=data["role"]
        )
        return Response(
            group_member(user_id=request.user.pk, group_id=group_id, member_id=data["user"]),
            status=status.HTTP_201_CREATED,
        )


class GroupMemberView(APIView):
    @extend_schema(
        request=MemberRoleSerializer,
        responses={200: GroupMemberSerializer, **ERRORS},
        description="Owner only: promote to admin, demote to member, or hand ownership over.",
    )
    def patch(self, request: Request, group_id: int, user_id: int) -> Response:
        serializer = MemberRoleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        group_member_role_set(
            actor=request.user,
            group_id=group_id,
            user_id=user_id,
            role=serializer.validated_data["role"],
        )
        return Response(group_member(user_id=request.user.pk, group_id=group_id, member_id=user_id))

    @extend_schema(
        request=ReasonSerializer,
        responses={204: None, **ERRORS},
        description="Removes a member: the owner removes admins and members, admins remove "
        "members; your own user id means leaving. Their live connections stop receiving the "
        'group at once. An optional JSON body `{"reason"}` goes to the audit log.',
    )
    def delete(self, request: Request, group_id: int, user_id: int) -> Response:
        serializer = ReasonSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        group_member_remove(
            actor=request.user,
            group_id=group_id,
            user_id=user_id,
            reason=serializer.validated_data["reason"],
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class GroupLeaveView(APIView):
    @extend_schema(
        request=None,
        responses={204: None, 404: ErrorSerializer},
        description="Leave the group. An owner who leaves hands ownership to the oldest admin, "
        "else the oldest member.",
    )
    def post(self, request: Request, group_id: int) -> Response:
        group_leave(user=request.user, group_id=group_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PublicGroupSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    member_count = serializers.IntegerField()
    visibility = serializers.CharField()


class GroupListQuerySerializer(serializers.Serializer):
    public = serializers.BooleanField(
        required=False, default=False, help_text="1: list the public groups"
    )
    search = serializers.CharField(required=False, default="", allow_blank=True, max_length=120)


class PublicGroupListView(APIView):
    """GET /api/groups/?public=1&search=: the public groups (POST on the same path creates)."""

    @extend_schema(
        parameters=[GroupListQuerySerializer],
        responses={200: PublicGroupSerializer(many=True)},
        description="`public=1`: public groups anyone may see and join (name or description "
        "containing `search`), biggest first. Without `public`: the groups you are in.",
    )
    def get(self, request: Request) -> Response:
        query = GroupListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        if query.validated_data["public"]:
            return Response(public_groups(search=query.validated_data["search"]))
        return Response(member_groups(user_id=request.user.pk))


class GroupJoinView(APIView):
    @extend_schema(
        request=None,
        responses={200: ConversationSerializer, **ERRORS},
        description="Join a public group as a member (a `member_added` system message records "
        "it, as for an add). A private group you are not in: 404. Already a member: 200.",
    )
    def post(self, request: Request, group_id: int) -> Response:
        group_join(user=request.user, group_id=group_id)
        return Response(conversation_summary(user_id=request.user.pk, conversation_id=group_id))


class InviteCreateSerializer(serializers.Serializer):
    expires_in = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="Seconds; none: never expires"
    )
    max_uses = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="Joins; none: unlimited"
    )


class InviteSerializer(serializers.Serializer):
    code = serializers.CharField()
    url = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)
    max_uses = serializers.IntegerField(allow_null=True)
    uses = serializers.IntegerField()


def invite_body(request: Request, invite) -> dict:  # type: ignore[no-untyped-def]
    return {
        "code": invite.code,
        "url": request.build_absolute_uri(f"/invite/{invite.code}/"),
        "expires_at": invite.expires_at,
        "max_uses": invite.max_uses,
        "uses": invite.uses,
    }


class GroupInvitesView(APIView):
    @extend_schema(
        request=InviteCreateSerializer,
        responses={201: InviteSerializer, **ERRORS},
        description="Owner and admins: a new invite link (code of 192 random bits).",
    )
    def post(self, request: Request, group_id: int) -> Response:
        serializer = InviteCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invite = invite_create(actor=request.user, group_id=group_id, **serializer.validated_data)
        return Response(
            InviteSerializer(invite_body(request, invite)).data, status=status.HTTP_201_CREATED
        )


class GroupInviteView(APIView):
    @extend_schema(
        request=None,
        responses={204: None, **ERRORS},
        description="Owner and admins: revoke an invite; its link stops working (404).",
    )
    def delete(self, request: Request, group_id: int, code: str) -> Response:
        invite_revoke(actor=request.user, group_id=group_id, code=code)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitePreviewSerializer(serializers.Serializer):
    code = serializers.CharField()
    group = PublicGroupSerializer()
    member = serializers.BooleanField(help_text="You are already a member")
    expires_at = serializers.DateTimeField(allow_null=True)
    max_uses = serializers.IntegerField(allow_null=True)
    uses = serializers.IntegerField()


class InvitePreviewView(APIView):
    @extend_schema(
        responses={200: InvitePreviewSerializer, 404: ErrorSerializer, 410: ErrorSerializer},
        description="What an invite leads to (the group's name), for a logged-in user. "
        "Unknown or revoked: 404; expired or used up: 410 `gone`.",
    )
    def get(self, request: Request, code: str) -> Response:
        return Response(invite_preview(user_id=request.user.pk, code=code))


class InviteAcceptView(APIView):
    @extend_schema(
        request=None,
        responses={200: ConversationSerializer, 404: ErrorSerializer, 410: ErrorSerializer},
        description="Join the invite's group as a member; each new member uses the invite "
        "once. Expired or used up: 410 `gone`; unknown or revoked: 404; already a member: 200.",
    )
    def post(self, request: Request, code: str) -> Response:
        membership = invite_accept(user=request.user, code=code)
        return Response(
            conversation_summary(
                user_id=request.user.pk, conversation_id=membership.conversation_id
            )
        )


class GroupCollectionView(PublicGroupListView, GroupCreateView):
    """/api/groups/: GET lists (public groups, or yours), POST creates."""
