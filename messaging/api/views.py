from contextlib import nullcontext

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chatsite.db.replicas import replica_reads
from core.errors import BadRequest
from lifecycle.selectors import message_history_page
from messaging.selectors import (
    MAX_PAGE,
    conversation_summaries,
    message_changes,
)
from messaging.services import (
    conversation_direct_open,
    message_delete,
    message_edit,
    message_send,
)
from notifications.selectors import membership_state
from notifications.services import notify_mute, notify_set

from .serializers import (
    AckSerializer,
    ChangePageSerializer,
    ConversationSerializer,
    DirectOpenSerializer,
    ErrorSerializer,
    MembershipPatchSerializer,
    MembershipSerializer,
    MessageChangeSerializer,
    MessageEditSerializer,
    MessagePageSerializer,
    MessageSendSerializer,
)

DEFAULT_PAGE = 50


class HistoryQuerySerializer(serializers.Serializer):
    after_seq = serializers.IntegerField(min_value=0, required=False, max_value=2**63 - 1)
    before_seq = serializers.IntegerField(min_value=1, required=False, max_value=2**63 - 1)
    limit = serializers.IntegerField(min_value=1, max_value=MAX_PAGE, default=DEFAULT_PAGE)

    def validate(self, attrs: dict) -> dict:
        if "after_seq" in attrs and "before_seq" in attrs:
            raise serializers.ValidationError("Give after_seq or before_seq, not both.")
        return attrs


def conversation_summary(*, user_id: int, conversation_id: int) -> dict:
    return conversation_summaries(
        user_id=user_id, conversation_ids=[conversation_id], include_members=True
    )[0]


class ConversationListView(APIView):
    @extend_schema(responses=ConversationSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(conversation_summaries(user_id=request.user.pk, include_members=True))


class DirectConversationView(APIView):
    @extend_schema(
        request=DirectOpenSerializer,
        responses={
            200: ConversationSerializer,
            201: ConversationSerializer,
            400: ErrorSerializer,
            404: ErrorSerializer,
        },
        description="The direct conversation with that user: created on first use (201), "
        "the same one after (200).",
    )
    def post(self, request: Request) -> Response:
        serializer = DirectOpenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        conversation, created = conversation_direct_open(
            user=request.user, other_id=serializer.validated_data["user"]
        )
        return Response(
            conversation_summary(user_id=request.user.pk, conversation_id=conversation.pk),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class MessageListView(APIView):
    @extend_schema(
        parameters=[HistoryQuerySerializer],
        responses={200: MessagePageSerializer, 404: ErrorSerializer},
        description="`after_seq`: the messages after it, ascending. `before_seq`: the page just "
        "before it, still ascending. Neither: the newest page.",
    )
    def get(self, request: Request, conversation_id: int) -> Response:
        query = HistoryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        after_seq = query.validated_data.get("after_seq")
        # Pages of history may come from a replica (never older than the reader's own last
        # write); `after_seq` is catching up, read from the primary like `sync`.
        reads = replica_reads(user_id=request.user.pk) if after_seq is None else nullcontext()
        with reads:
            page, has_more, last_seq, first_seq = message_history_page(
                user_id=request.user.pk,
                conversation_id=conversation_id,
                after_seq=after_seq,
                before_seq=query.validated_data.get("before_seq"),
                limit=query.validated_data["limit"],
            )
        return Response(
            {"results": page, "has_more": has_more, "last_seq": last_seq, "first_seq": first_seq}
        )

    @extend_schema(
        request=MessageSendSerializer,
        responses={
            201: AckSerializer,
            200: AckSerializer,
            400: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
            409: ErrorSerializer,
        },
        description="Sends a message, exactly as the WebSocket `send` frame does. A repeated "
        "client_msg_id stores nothing and answers 200 with the original ack and duplicate=true.",
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        serializer = MessageSendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ack = message_send(
            sender=request.user, conversation_id=conversation_id, **serializer.validated_data
        )
        return Response(
            ack, status=status.HTTP_200_OK if ack["duplicate"] else status.HTTP_201_CREATED
        )


class MessageView(APIView):
    @extend_schema(
        request=MessageEditSerializer,
        responses={
            200: MessageChangeSerializer,
            400: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
            409: ErrorSerializer,
        },
        description="The sender edits their message within PARLEY_EDIT_WINDOW seconds of "
        "sending (403 `edit_window_closed` after; 409 once deleted). Same path as the "
        "WebSocket `edit` frame; members get `message_updated` live.",
    )
    def patch(self, request: Request, conversation_id: int, message_id: int) -> Response:
        serializer = MessageEditSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(
            message_edit(
                editor=request.user,
                conversation_id=conversation_id,
                message_id=message_id,
                body=serializer.validated_data["body"],
            )
        )

    @extend_schema(
        request=None,
        responses={200: MessageChangeSerializer, 403: ErrorSerializer, 404: ErrorSerializer},
        description="Deletes a message, leaving a tombstone (seq kept, body gone): the sender, "
        "the group's owner and admins, and staff. Same path as the WebSocket `delete` frame; "
        "members get `message_deleted` live. Repeating it changes nothing.",
    )
    def delete(self, request: Request, conversation_id: int, message_id: int) -> Response:
        return Response(
            message_delete(
                actor=request.user, conversation_id=conversation_id, message_id=message_id
            )
        )


class ChangesQuerySerializer(serializers.Serializer):
    after_change_seq = serializers.IntegerField(min_value=0, max_value=2**63 - 1, default=0)
    limit = serializers.IntegerField(min_value=1, max_value=MAX_PAGE, default=MAX_PAGE)


class ChangeListView(APIView):
    @extend_schema(
        parameters=[ChangesQuerySerializer],
        responses={200: ChangePageSerializer, 404: ErrorSerializer},
        description="Edits and deletes since `after_change_seq`, as the current state of each "
        "changed message, ascending by change_seq (the REST twin of the `changes` frame).",
    )
    def get(self, request: Request, conversation_id: int) -> Response:
        query = ChangesQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        page, has_more, last_change_seq = message_changes(
            user_id=request.user.pk,
            conversation_id=conversation_id,
            after_change_seq=query.validated_data["after_change_seq"],
            limit=query.validated_data["limit"],
        )
        return Response(
            {
                "results": page,
                "has_more": has_more,
                "last_change_seq": page[-1]["change_seq"] if has_more else last_change_seq,
            }
        )


class MembershipView(APIView):
    @extend_schema(responses={200: MembershipSerializer, 404: ErrorSerializer})
    def get(self, request: Request, conversation_id: int) -> Response:
        return Response(membership_state(user_id=request.user.pk, conversation_id=conversation_id))

    @extend_schema(
        request=MembershipPatchSerializer,
        responses={200: MembershipSerializer, 400: ErrorSerializer, 404: ErrorSerializer},
        description="Your own settings in the conversation. `notify`: `all`, `mentions` (only "
        "direct messages and @mentions of you are pushed and mailed) or `none`; the default is "
        "`all`, `mentions` in groups over PARLEY_LARGE_GROUP members. `muted: true` is the "
        "same as `notify: none` (older clients); `muted: false` returns to the default. "
        "Messages still arrive on your sockets.",
    )
    def patch(self, request: Request, conversation_id: int) -> Response:
        if not isinstance(request.data, dict):
            raise BadRequest("expected a JSON object")
        unknown = sorted(set(request.data) - {"muted", "notify"})
        if unknown:
            raise BadRequest(f"unknown field {unknown[0]}", field=unknown[0])
        if "notify" in request.data:
            notify_set(
                user=request.user, conversation_id=conversation_id, notify=request.data["notify"]
            )
        elif "muted" in request.data:
            notify_mute(
                user=request.user, conversation_id=conversation_id, muted=request.data["muted"]
            )
        else:
            raise BadRequest("nothing to change: give notify or muted", field="muted")
        return Response(membership_state(user_id=request.user.pk, conversation_id=conversation_id))
