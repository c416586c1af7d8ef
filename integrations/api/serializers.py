from rest_framework import serializers

from integrations.models import ApiToken


class BotCreateSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    display_name = serializers.CharField(max_length=150, required=False, allow_blank=True)


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
