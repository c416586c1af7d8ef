from django.http import HttpResponse, QueryDict
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations import commands, outgoing, selectors, services
from integrations.models import SlashCommand
from messaging.api.serializers import ErrorSerializer

from .permissions import AdminScope
from .serializers import (
    AvailableCommandSerializer,
    BotCreateSerializer,
    BotSerializer,
    BotTokenSerializer,
    CommandIssuedSerializer,
    CommandRegisterSerializer,
    CommandRunSerializer,
    CommandSerializer,
    DeliverySerializer,
    IncomingWebhookCreateSerializer,
    IncomingWebhookIssuedSerializer,
    IncomingWebhookSerializer,
    OutgoingWebhookCreateSerializer,
    OutgoingWebhookIssuedSerializer,
    OutgoingWebhookSerializer,
    TokenCreateSerializer,
    TokenIssuedSerializer,
    TokenSerializer,
)


def _bot_with_token(bot, issued) -> dict:  # type: ignore[no-untyped-def]
    return {**BotSerializer(bot).data, "token": issued.raw}


class BotListView(APIView):
    permission_classes = [AdminScope]

    @extend_schema(responses=BotSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(BotSerializer(selectors.bots_of(owner=request.user), many=True).data)

    @extend_schema(
        request=BotCreateSerializer,
        responses={201: BotTokenSerializer, 400: ErrorSerializer, 403: ErrorSerializer},
        description="Creates a bot owned by the caller. The answer carries its API token, "
        "shown only this once.",
    )
    def post(self, request: Request) -> Response:
        data = BotCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        bot, issued = services.bot_create(
            owner=request.user,
            username=data.validated_data["username"],
            display_name=data.validated_data.get("display_name", ""),
            avatar_url=data.validated_data["avatar_url"],
        )
        return Response(_bot_with_token(bot, issued), status=status.HTTP_201_CREATED)


class BotKnownView(APIView):
    @extend_schema(
        responses=BotSerializer(many=True),
        description="The bots you share a conversation with (or own), for the UI's bot badge.",
    )
    def get(self, request: Request) -> Response:
        return Response(BotSerializer(selectors.bots_known_to(user=request.user), many=True).data)


class BotDetailView(APIView):
    permission_classes = [AdminScope]

    @extend_schema(
        responses={204: None, 404: ErrorSerializer},
        description="Deactivates the bot: its token stops working at once and its WebSockets "
        "close with 4401. Its messages stay.",
    )
    def delete(self, request: Request, bot_id: int) -> Response:
        services.bot_deactivate(owner=request.user, bot_id=bot_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class BotTokenView(APIView):
    permission_classes = [AdminScope]

    @extend_schema(
        request=None,
        responses={200: BotTokenSerializer, 400: ErrorSerializer, 404: ErrorSerializer},
        description="Rotates the bot's token: the old one is refused at once (its sockets close "
        "with 4401) and the new one is in the answer, shown only this once.",
    )
    def post(self, request: Request, bot_id: int) -> Response:
        bot, issued = services.bot_token_rotate(owner=request.user, bot_id=bot_id)
        return Response(_bot_with_token(bot, issued))


class TokenListView(APIView):
    permission_classes = [AdminScope]

    @extend_schema(responses=TokenSerializer(many=True))
    def get(self, request: Request) -> Response:
        tokens = selectors.api_tokens_of(user=request.user)
        return Response(TokenSerializer(tokens, many=True).data)

    @extend_schema(
        request=TokenCreateSerializer,
        responses={201: TokenIssuedSerializer, 400: ErrorSerializer, 403: ErrorSerializer},
        description="Issues a personal API token, sent as `Authorization: Bearer <token>` on "
        "REST and the WebSocket. Only a digest is stored: the token is shown only this once.",
    )
    def post(self, request: Request) -> Response:
        data = TokenCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        issued = services.api_token_create(user=request.user, **data.validated_data)
        body = {**TokenSerializer(issued.token).data, "token": issued.raw}
        return Response(body, status=status.HTTP_201_CREATED)


class TokenDetailView(APIView):
    permission_classes = [AdminScope]

    @extend_schema(
        responses={204: None, 404: ErrorSerializer},
        description="Revokes the token at once; WebSockets opened with it close with 4401.",
    )
    def delete(self, request: Request, token_id: int) -> Response:
        services.api_token_revoke(user=request.user, token_id=token_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class IncomingWebhookListView(APIView):
    permission_classes = [AdminScope]

    @extend_schema(responses={200: IncomingWebhookSerializer(many=True), 404: ErrorSerializer})
    def get(self, request: Request, conversation_id: int) -> Response:
        hooks = selectors.incoming_webhooks_of(user=request.user, conversation_id=conversation_id)
        return Response(IncomingWebhookSerializer(hooks, many=True).data)

    @extend_schema(
        request=IncomingWebhookCreateSerializer,
        responses={
            201: IncomingWebhookIssuedSerializer,
            400: ErrorSerializer,
            403: ErrorSerializer,
        },
        description="An incoming webhook (group owner/admins, or either side of a direct chat). "
        "The answer's `url` (`/hooks/<secret>/`) is shown only this once. In a group the posts "
        "come from `bot` (added to the group if needed) or a new bot named after the webhook; "
        "in a direct chat from the caller.",
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        data = IncomingWebhookCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        issued = services.incoming_webhook_create(
            user=request.user,
            conversation_id=conversation_id,
            name=data.validated_data["name"],
            bot_id=data.validated_data["bot"],
            github_secret=data.validated_data["github_secret"],
        )
        url = request.build_absolute_uri(reverse("incoming-webhook", args=[issued.secret]))
        body = {**IncomingWebhookSerializer(issued.webhook).data, "url": url}
        return Response(body, status=status.HTTP_201_CREATED)


class IncomingWebhookDetailView(APIView):
    permission_classes = [AdminScope]

    @extend_schema(responses={204: None, 403: ErrorSerializer, 404: ErrorSerializer})
    def delete(self, request: Request, conversation_id: int, webhook_id: int) -> Response:
        services.incoming_webhook_delete(
            user=request.user, conversation_id=conversation_id, webhook_id=webhook_id
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class HookView(APIView):
    """The receiver of incoming webhooks: no login, the secret in the URL is the credential."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []  # limited per webhook in the service

    @extend_schema(
        request={"application/json": dict},
        responses={
            (200, "text/plain"): str,
            400: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
            429: ErrorSerializer,
        },
        description='Slack-compatible incoming webhook: `{"text"}` (also `username`, '
        "`attachments`, `blocks`), GitHub events (with `X-GitHub-Event`) or an Alertmanager "
        "notification. Answers 200 `ok`. `Idempotency-Key` or `client_msg_id` makes a retry "
        "store nothing new. See docs/integrations.md.",
    )
    def post(self, request: Request, secret: str) -> HttpResponse:
        raw = request.body
        if request.content_type == "application/x-www-form-urlencoded":
            form = QueryDict(raw, encoding=request.encoding or "utf-8")
            raw = (form.get("payload") or "").encode()  # Slack's form encoding
        services.incoming_webhook_post(
            secret=secret,
            body=raw,
            github_event=request.headers.get("X-GitHub-Event"),
            github_signature=request.headers.get("X-Hub-Signature-256"),
            idempotency_key=request.headers.get("Idempotency-Key"),
            signed_body=request.body,
        )
        return HttpResponse("ok", content_type="text/plain")


class OutgoingWebhookListView(APIView):
    permission_classes = [AdminScope]

    @extend_schema(responses=OutgoingWebhookSerializer(many=True))
    def get(self, request: Request) -> Response:
        hooks = selectors.outgoing_webhooks_of(user=request.user)
        return Response(OutgoingWebhookSerializer(hooks, many=True).data)

    @extend_schema(
        request=OutgoingWebhookCreateSerializer,
        responses={
            201: OutgoingWebhookIssuedSerializer,
            400: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
        },
        description="An outgoing webhook: each event of the conversations is POSTed to `url`, "
        "signed with `secret` (shown only in this answer) and retried with backoff. Public "
        "URLs only (docs/integrations.md).",
    )
    def post(self, request: Request) -> Response:
        data = OutgoingWebhookCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        issued = outgoing.outgoing_webhook_create(
            user=request.user,
            url=data.validated_data["url"],
            events=data.validated_data["events"],
            conversations=data.validated_data["conversations"],
            bot_id=data.validated_data["bot"],
        )
        body = {**OutgoingWebhookSerializer(issued.webhook).data, "secret": issued.secret}
        return Response(body, status=status.HTTP_201_CREATED)


class OutgoingWebhookDetailView(APIView):
    permission_classes = [AdminScope]

    @extend_schema(responses={204: None, 404: ErrorSerializer})
    def delete(self, request: Request, webhook_id: int) -> Response:
        outgoing.outgoing_webhook_delete(user=request.user, webhook_id=webhook_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class OutgoingWebhookEnableView(APIView):
    permission_classes = [AdminScope]

    @extend_schema(
        request=None,
        responses={200: OutgoingWebhookSerializer, 404: ErrorSerializer},
        description="Turns a disabled webhook back on (new events only).",
    )
    def post(self, request: Request, webhook_id: int) -> Response:
        webhook = outgoing.outgoing_webhook_enable(user=request.user, webhook_id=webhook_id)
        return Response(OutgoingWebhookSerializer(webhook).data)


class DeliveryListView(APIView):
    permission_classes = [AdminScope]

    @extend_schema(
        responses={200: DeliverySerializer(many=True), 404: ErrorSerializer},
        description="The delivery log: the newest 100 deliveries, newest first.",
    )
    def get(self, request: Request, webhook_id: int) -> Response:
        deliveries = selectors.webhook_deliveries_of(user=request.user, webhook_id=webhook_id)
        return Response(DeliverySerializer(deliveries, many=True).data)


class CommandListView(APIView):
    permission_classes = [AdminScope]

    @extend_schema(responses=CommandSerializer(many=True))
    def get(self, request: Request) -> Response:
        mine = SlashCommand.objects.filter(owner=request.user).prefetch_related("conversations")
        return Response(CommandSerializer(mine.order_by("pk"), many=True).data)

    @extend_schema(
        request=CommandRegisterSerializer,
        responses={201: CommandIssuedSerializer, 400: ErrorSerializer, 403: ErrorSerializer},
        description="Registers a slash command: each use is POSTed, signed with `secret` "
        "(shown only in this answer), to `url` (docs/integrations.md).",
    )
    def post(self, request: Request) -> Response:
        data = CommandRegisterSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        registered, secret = commands.command_register(
            user=request.user,
            command=data.validated_data["command"],
            url=data.validated_data["url"],
            conversations=data.validated_data["conversations"],
            bot_id=data.validated_data["bot"],
        )
        body = {**CommandSerializer(registered).data, "secret": secret}
        return Response(body, status=status.HTTP_201_CREATED)


class CommandDetailView(APIView):
    permission_classes = [AdminScope]

    @extend_schema(responses={204: None, 404: ErrorSerializer})
    def delete(self, request: Request, command_id: int) -> Response:
        commands.command_delete(user=request.user, command_id=command_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ConversationCommandsView(APIView):
    @extend_schema(responses={200: AvailableCommandSerializer(many=True), 404: ErrorSerializer})
    def get(self, request: Request, conversation_id: int) -> Response:
        available = commands.commands_available(user=request.user, conversation_id=conversation_id)
        return Response(available)

    @extend_schema(
        request=CommandRunSerializer,
        responses={
            200: dict,
            400: ErrorSerializer,
            404: ErrorSerializer,
            502: ErrorSerializer,
        },
        description="Runs a slash command line (the same service as the WebSocket `command` "
        'frame). Answers {"ack": {...}} when it stored a message, {"ephemeral": {"type": '
        '"ephemeral", "conversation", "command", "text"}} for an answer to the caller only '
        '(not stored), or {"done": true}.',
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        data = CommandRunSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = commands.command_run(
            user=request.user,
            conversation_id=conversation_id,
            text=data.validated_data["text"],
            client_msg_id=data.validated_data.get("client_msg_id"),
        )
        return Response(result)
