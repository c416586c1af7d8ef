from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from groups.services import group_create
from messaging.api.serializers import ConversationSerializer, ErrorSerializer
from messaging.api.views import conversation_summary


class GroupCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    members = serializers.ListField(
        child=serializers.IntegerField(min_value=1), default=list, max_length=10_000
    )


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
