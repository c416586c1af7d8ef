"""The REST shapes of search (and type-checking of its query parameters)."""

from datetime import UTC, datetime

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from messaging.api.serializers import MessageSerializer
from search.selectors import DEFAULT_LIMIT, MAX_LIMIT

MAX_ID = 2**63 - 1
Q_MAX_CHARS = 500


@extend_schema_field(OpenApiTypes.STR)
class MomentField(serializers.Field):
    """An ISO 8601 date (midnight UTC) or datetime (UTC when it names no offset)."""

    default_error_messages = {
        "invalid": "{name} must be an ISO 8601 date or datetime, e.g. 2026-12-01 or "
        "2026-12-01T09:30:00Z."
    }

    def to_internal_value(self, data: object) -> datetime:
        from django.utils.dateparse import parse_date, parse_datetime

        text = str(data).strip()
        moment = None
        try:
            moment = parse_datetime(text)
            if moment is None:
                day = parse_date(text)
                if day is not None:
                    moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        except ValueError:
            moment = None
        if moment is None:
            self.fail("invalid", name=self.field_name)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment

    def to_representation(self, value: datetime) -> str:
        return value.isoformat()


def _id_field(name: str, what: str, help_text: str) -> serializers.IntegerField:
    message = f"{name} must be a {what} id (a positive integer)."
    return serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        help_text=help_text,
        error_messages={
            "invalid": message,
            "min_value": message,
            "max_value": message,
            "max_string_length": message,
        },
    )


class SearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(
        max_length=Q_MAX_CHARS,
        allow_blank=True,
        trim_whitespace=False,
        help_text='Words, "quoted phrases", -excluded words, OR (web-search syntax)',
        error_messages={
            "required": "q is required: the words to search for.",
            "max_length": f"q must be at most {Q_MAX_CHARS} characters.",
        },
    )
    conversation = _id_field("conversation", "conversation", "Only messages in this conversation")
    before = MomentField(required=False, help_text="Only messages sent before this moment")
    after = MomentField(required=False, help_text="Only messages sent at or after this moment")
    has = serializers.ChoiceField(
        choices=["link", "file"],
        required=False,
        help_text="link: messages with an http(s):// link; file: messages with attachments",
        error_messages={"invalid_choice": 'has must be "link" or "file".'},
    )
    sort = serializers.ChoiceField(
        choices=["newest", "relevance"],
        default="newest",
        error_messages={"invalid_choice": 'sort must be "newest" or "relevance".'},
    )
    limit = serializers.IntegerField(
        min_value=1,
        max_value=MAX_LIMIT,
        default=DEFAULT_LIMIT,
        error_messages={
            key: f"limit must be a whole number from 1 to {MAX_LIMIT}."
            for key in ("invalid", "min_value", "max_value", "max_string_length")
        },
    )
    cursor = serializers.CharField(
        required=False,
        max_length=1000,
        help_text="`next` of the previous page",
        error_messages={"max_length": "cursor is not one this server issued."},
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # `from` is a Python keyword: declared here rather than as a class attribute.
        fields["from"] = _id_field("from", "user", "Only messages this user sent")
        return fields


class ConversationRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=["direct", "group", "announcement"])
    title = serializers.CharField()


class SearchResultSerializer(serializers.Serializer):
    message = MessageSerializer(help_text="The message object exactly as history has it")
    conversation = ConversationRefSerializer()
    highlight = serializers.CharField(
        help_text="The matching text, HTML-escaped, the matched words in <mark>…</mark>"
    )


class SearchPageSerializer(serializers.Serializer):
    results = SearchResultSerializer(many=True)
    next = serializers.CharField(allow_null=True, help_text="cursor of the next page; null: last")
