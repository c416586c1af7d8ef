from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from groups.selectors import group_detail, group_member, group_members
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


class GroupUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False)
    description = serializers.CharField(max_length=1000, required=False, allow_blank=True)


class GroupMemberSerializer(serializers.Serializer):
    user = UserRefSerializer()
    role = serializers.ChoiceField(choices=ROLES)
    joined_at = serializers.DateTimeField()


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
        group_update(actor=request.user, group_id=group_id, **serializer.validated_data)
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
