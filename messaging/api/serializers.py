"""Serializers describe the REST shapes (and type-check input); rules live in the services."""

from rest_framework import serializers


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class MessageSerializer(serializers.Serializer):
    type = serializers.CharField(default="message")
    conversation = serializers.IntegerField()
    id = serializers.CharField(help_text="64-bit time-ordered id, as a string")
    seq = serializers.IntegerField()
    sender = UserRefSerializer(allow_null=True)
    client_msg_id = serializers.CharField(allow_null=True)
    body = serializers.CharField()
    created_at = serializers.DateTimeField()


class MessagePageSerializer(serializers.Serializer):
    results = MessageSerializer(many=True)
    has_more = serializers.BooleanField(help_text="More messages exist in the direction paged")
    last_seq = serializers.IntegerField(help_text="The conversation's highest seq")


class SendSerializer(serializers.Serializer):
    client_msg_id = serializers.CharField(trim_whitespace=False, allow_blank=True)
    body = serializers.CharField(trim_whitespace=False, allow_blank=True)


class AckSerializer(serializers.Serializer):
    type = serializers.CharField(default="ack")
    client_msg_id = serializers.CharField()
    conversation = serializers.IntegerField()
    id = serializers.CharField()
    seq = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    duplicate = serializers.BooleanField()


class ConversationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=["direct", "group", "announcement"])
    title = serializers.CharField()
    members = UserRefSerializer(many=True, required=False)
    last_seq = serializers.IntegerField()
    read_seq = serializers.IntegerField()
    unread = serializers.IntegerField()


class DirectOpenSerializer(serializers.Serializer):
    user = serializers.IntegerField(min_value=1)


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
    field = serializers.CharField(allow_null=True)


class MembershipSerializer(serializers.Serializer):
    conversation = serializers.IntegerField(source="conversation_id")
    role = serializers.CharField()
    muted = serializers.BooleanField(help_text="No offline push notifications when true")
    delivered_seq = serializers.IntegerField()
    read_seq = serializers.IntegerField()
    joined_seq = serializers.IntegerField()


class MembershipPatchSerializer(serializers.Serializer):
    muted = serializers.BooleanField(required=False)
