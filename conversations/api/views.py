from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations.selectors import thread_replies
from messaging.api.serializers import ErrorSerializer, MessageSerializer
from messaging.selectors import MAX_PAGE

DEFAULT_PAGE = 50
MAX_ID = 2**63 - 1


class ThreadQuerySerializer(serializers.Serializer):
    after_seq = serializers.IntegerField(min_value=0, max_value=MAX_ID, default=0)
    limit = serializers.IntegerField(min_value=1, max_value=MAX_PAGE, default=DEFAULT_PAGE)


class ThreadPageSerializer(serializers.Serializer):
    root = MessageSerializer(help_text="The thread's root message, with its thread_summary")
    results = MessageSerializer(many=True, help_text="Replies with seq > after_seq, ascending")
    has_more = serializers.BooleanField()


class ThreadView(APIView):
    @extend_schema(
        parameters=[ThreadQuerySerializer],
        responses={200: ThreadPageSerializer, 400: ErrorSerializer, 404: ErrorSerializer},
        description="The replies in a root message's thread (every message whose `thread` is "
        "the root), in seq order, paged like history: `after_seq` (default 0) and `limit`.",
    )
    def get(self, request: Request, conversation_id: int, root_id: int) -> Response:
        query = ThreadQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        root, page, has_more = thread_replies(
            user_id=request.user.pk,
            conversation_id=conversation_id,
            root_id=root_id,
            after_seq=query.validated_data["after_seq"],
            limit=query.validated_data["limit"],
        )
        return Response({"root": root, "results": page, "has_more": has_more})
