from rest_framework import serializers

from integrations.models import ApiToken


class BotCreateSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    display_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    avatar_url = serializers.URLField(max_length=500, required=False, allow_blank=True, default="")


class BotSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="user_id")
    username = serializers.CharField(source="user.username")
    display_name = serializers.CharField()
    avatar_url = serializers.CharField()
    is_bot = serializers.BooleanField(default=True, read_only=True)
    is_active = serializers.BooleanField(source="user.is_active")
    owner = serializers.IntegerField(source="owner_id")
    created_at = serializers.DateTimeField()


class BotTokenSerializer(BotSerializer):
    token = serializers.CharField(help_text="The bot's API token; shown only in this answer.")


class TokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    expires_in = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Seconds until the token expires (60 to 10 years); null: never.",
    )
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=ApiToken.Scope.choices),
        required=False,
        default=["read", "write"],
        allow_empty=False,
    )


class TokenSerializer(serializers.ModelSerializer):
    scopes = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "scopes", "created_at", "expires_at", "last_used_at"]


class TokenIssuedSerializer(TokenSerializer):
    token = serializers.CharField(help_text="The token itself; shown only in this answer.")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "token"]


class IncomingWebhookCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    bot = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="A bot of yours (groups only)."
    )
    github_secret = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=200,
        help_text="If set, GitHub deliveries must carry a valid X-Hub-Signature-256.",
    )


class IncomingWebhookSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    conversation = serializers.IntegerField(source="conversation_id")
    sender = serializers.IntegerField(source="sender_id", help_text="Who the posts come from.")
    prefix = serializers.CharField(help_text="The start of the URL's secret, for telling apart.")
    github_signed = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)

    def get_github_signed(self, webhook) -> bool:  # type: ignore[no-untyped-def]
        return bool(webhook.github_secret)


class IncomingWebhookIssuedSerializer(IncomingWebhookSerializer):
    url = serializers.CharField(help_text="The webhook's URL; shown only in this answer.")


class OutgoingWebhookCreateSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=500)
    events = serializers.ListField(child=serializers.CharField(max_length=40), allow_empty=False)
    conversations = serializers.JSONField(
        help_text='A list of conversation ids, "all_mine" or (staff) "all".'
    )
    bot = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        help_text='A bot of yours that posts the receiver\'s {"text"} answers.',
    )


class OutgoingWebhookSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField()
    events = serializers.ListField(child=serializers.CharField())
    conversations = serializers.SerializerMethodField()
    bot = serializers.IntegerField(source="bot_id", allow_null=True)
    is_active = serializers.BooleanField()
    disabled_reason = serializers.CharField()
    created_at = serializers.DateTimeField()

    def get_conversations(self, webhook) -> list[int] | str:  # type: ignore[no-untyped-def]
        if webhook.scope != "listed":
            return webhook.scope
        return sorted(c.pk for c in webhook.conversations.all())


class OutgoingWebhookIssuedSerializer(OutgoingWebhookSerializer):
    secret = serializers.CharField(help_text="The HMAC key of X-Parley-Signature; shown once.")


class DeliverySerializer(serializers.Serializer):
    id = serializers.UUIDField(source="delivery_id")
    event = serializers.CharField()
    conversation = serializers.IntegerField(source="conversation_id")
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    last_error = serializers.CharField()
    response_status = serializers.IntegerField(allow_null=True)
    response_ms = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    next_attempt_at = serializers.DateTimeField(allow_null=True)


class CommandRegisterSerializer(serializers.Serializer):
    command = serializers.CharField(max_length=32, help_text="e.g. /deploy")
    url = serializers.CharField(max_length=500)
    conversations = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        allow_null=True,
        default=None,
        help_text="Where it can be used; staff may leave it out (everywhere).",
    )
    bot = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        help_text="A bot of yours that posts in_channel answers.",
    )


class CommandSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    command = serializers.CharField()
    url = serializers.CharField()
    conversations = serializers.SerializerMethodField()
    bot = serializers.IntegerField(source="bot_id", allow_null=True)
    created_at = serializers.DateTimeField()

    def get_conversations(self, command) -> list[int] | str:  # type: ignore[no-untyped-def]
        return "all" if command.is_global else sorted(c.pk for c in command.conversations.all())


class CommandIssuedSerializer(CommandSerializer):
    secret = serializers.CharField(help_text="The HMAC key of X-Parley-Signature; shown once.")


class CommandRunSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=4000, help_text="The line typed, e.g. /deploy prod")
    client_msg_id = serializers.CharField(max_length=64, required=False, allow_null=True)


class AvailableCommandSerializer(serializers.Serializer):
    command = serializers.CharField()
    description = serializers.CharField()
