from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations.selectors import emoji_search, message_edits, pins_list, thread_replies
from conversations.services import pin_set, reaction_set
from messaging.api.serializers import ErrorSerializer, MessageSerializer, UserRefSerializer
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


class ReactionEventSerializer(serializers.Serializer):
    type = serializers.CharField(default="reaction")
    conversation = serializers.IntegerField()
    message = serializers.CharField()
    seq = serializers.IntegerField()
    emoji = serializers.CharField()
    user = serializers.IntegerField()
    on = serializers.BooleanField()
    count = serializers.IntegerField(help_text="The emoji's new total on the message")
    change_seq = serializers.IntegerField(
        allow_null=True, help_text="null when nothing changed (reacting twice)"
    )


class ReactionView(APIView):
    def _set(self, request: Request, conversation_id: int, message_id: int, emoji: str, on: bool):
        return Response(
            reaction_set(
                user=request.user,
                conversation_id=conversation_id,
                message_id=message_id,
                emoji=emoji,
                on=on,
            )
        )

    @extend_schema(
        request=None,
        responses={200: ReactionEventSerializer, 400: ErrorSerializer, 404: ErrorSerializer},
        description="Adds your reaction (the emoji URL-encoded in the path: one Unicode emoji "
        "sequence). Idempotent. Members get a `reaction` frame. Same service as the WebSocket "
        "`react` frame.",
    )
    def put(self, request: Request, conversation_id: int, message_id: int, emoji: str):
        return self._set(request, conversation_id, message_id, emoji, True)

    @extend_schema(
        request=None,
        responses={200: ReactionEventSerializer, 400: ErrorSerializer, 404: ErrorSerializer},
        description="Takes your reaction back. Idempotent.",
    )
    def delete(self, request: Request, conversation_id: int, message_id: int, emoji: str):
        return self._set(request, conversation_id, message_id, emoji, False)


class EmojiQuerySerializer(serializers.Serializer):
    search = serializers.CharField(max_length=100, required=False, default="", allow_blank=True)


class EmojiSerializer(serializers.Serializer):
    emoji = serializers.CharField()
    name = serializers.CharField(help_text="Its Unicode (CLDR) short name")


class EmojiSearchView(APIView):
    @extend_schema(
        parameters=[EmojiQuerySerializer],
        responses={200: EmojiSerializer(many=True)},
        description="Emoji whose Unicode name contains every word of `search` (at most 60), "
        "for the reaction picker.",
    )
    def get(self, request: Request) -> Response:
        query = EmojiQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(emoji_search(query=query.validated_data["search"]))


class PinsEventSerializer(serializers.Serializer):
    type = serializers.CharField(default="pins")
    conversation = serializers.IntegerField()
    message = serializers.CharField()
    seq = serializers.IntegerField()
    pinned = serializers.BooleanField()
    by = UserRefSerializer()
    change_seq = serializers.IntegerField(allow_null=True)


class PinEntrySerializer(serializers.Serializer):
    message = MessageSerializer()
    pinned_by = UserRefSerializer(allow_null=True)
    pinned_at = serializers.DateTimeField()


class PinListView(APIView):
    @extend_schema(
        responses={200: PinEntrySerializer(many=True), 404: ErrorSerializer},
        description="The conversation's pinned messages, most recently pinned first.",
    )
    def get(self, request: Request, conversation_id: int) -> Response:
        return Response(pins_list(user_id=request.user.pk, conversation_id=conversation_id))


class PinView(APIView):
    @extend_schema(
        request=None,
        responses={200: PinsEventSerializer, **{s: ErrorSerializer for s in (400, 403, 404, 409)}},
        description="Pins a message: members of a direct chat, a group's owner and admins "
        "(403 for other members), staff in announcements. Idempotent; members get a `pins` "
        "frame.",
    )
    def put(self, request: Request, conversation_id: int, message_id: int) -> Response:
        return Response(
            pin_set(
                user=request.user, conversation_id=conversation_id, message_id=message_id, on=True
            )
        )

    @extend_schema(
        request=None,
        responses={200: PinsEventSerializer, **{s: ErrorSerializer for s in (403, 404)}},
        description="Unpins a message (same rules). Idempotent.",
    )
    def delete(self, request: Request, conversation_id: int, message_id: int) -> Response:
        return Response(
            pin_set(
                user=request.user, conversation_id=conversation_id, message_id=message_id, on=False
            )
        )


class EditEntrySerializer(serializers.Serializer):
    body = serializers.CharField(help_text="The text before this edit")
    edited_at = serializers.DateTimeField(help_text="When the edit replaced it")


class MessageEditsView(APIView):
    @extend_schema(
        responses={200: EditEntrySerializer(many=True), 404: ErrorSerializer},
        description="The earlier texts of a message, oldest first: one per edit, with the "
        "time that edit replaced it. Empty for a deleted message (its history goes with it).",
    )
    def get(self, request: Request, conversation_id: int, message_id: int) -> Response:
        return Response(
            message_edits(
                user_id=request.user.pk, conversation_id=conversation_id, message_id=message_id
            )
        )
