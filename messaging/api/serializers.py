"""Serializers describe the REST shapes (and type-check input); rules live in the services."""

from rest_framework import serializers


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    display_name = serializers.CharField(help_text="What to show; the username when none is set")
    avatar_url = serializers.CharField(
        allow_null=True, help_text="The 256 px avatar (null: show initials)"
    )


class AttachmentSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    size = serializers.IntegerField()
    content_type = serializers.CharField()
    url = serializers.CharField()
    thumbnail_url = serializers.CharField(allow_null=True)
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)


class PreviewSerializer(serializers.Serializer):
    url = serializers.CharField(help_text="The link as written in the message")
    title = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    image_url = serializers.CharField(allow_null=True)


class ReplyRefSerializer(serializers.Serializer):
    id = serializers.CharField()
    seq = serializers.IntegerField(allow_null=True)
    sender = UserRefSerializer(allow_null=True)
    excerpt = serializers.CharField(
        allow_blank=True, help_text="Up to 100 characters of the parent's text; '' once deleted"
    )


class ThreadSummarySerializer(serializers.Serializer):
    replies = serializers.IntegerField()
    last_reply_at = serializers.DateTimeField()
    participants = serializers.ListField(child=serializers.IntegerField())


class ReactionSummarySerializer(serializers.Serializer):
    emoji = serializers.CharField()
    count = serializers.IntegerField()
    users = serializers.ListField(child=serializers.IntegerField(), help_text="Up to 10")
    me = serializers.BooleanField(help_text="You reacted with it")


class MessageSerializer(serializers.Serializer):
    type = serializers.CharField(default="message")
    conversation = serializers.IntegerField()
    id = serializers.CharField(help_text="64-bit time-ordered id, as a string")
    seq = serializers.IntegerField()
    sender = UserRefSerializer(allow_null=True)
    client_msg_id = serializers.CharField(allow_null=True)
    body = serializers.CharField(allow_null=True, help_text="null once deleted (a tombstone)")
    created_at = serializers.DateTimeField()
    edited_at = serializers.DateTimeField(allow_null=True)
    deleted = serializers.BooleanField()
    system = serializers.DictField(
        allow_null=True, help_text="What a system message records, e.g. {event: member_added}"
    )
    attachments = AttachmentSerializer(many=True, required=False)
    previews = PreviewSerializer(many=True, required=False)
    status = serializers.ChoiceField(
        choices=["sent", "delivered", "read"],
        required=False,
        help_text="Direct chats, your own messages only: how far it got with the other person",
    )
    delivered_count = serializers.IntegerField(
        required=False, help_text="Groups, your own messages only: members it was delivered to"
    )
    read_count = serializers.IntegerField(
        required=False, help_text="Groups, your own messages only: members who read it"
    )
    html = serializers.CharField(
        required=False,
        allow_null=True,
        help_text="The body rendered from Markdown and sanitized on the server; null once deleted",
    )
    mentions = serializers.ListField(
        child=serializers.IntegerField(), required=False, help_text="User ids named (@username)"
    )
    mentions_all = serializers.BooleanField(
        required=False, help_text="@all / @everyone by the group's owner or an admin"
    )
    reply_to = ReplyRefSerializer(required=False, allow_null=True)
    thread = serializers.CharField(
        required=False, allow_null=True, help_text="Replies: the id of the thread's root"
    )
    thread_summary = ThreadSummarySerializer(required=False, help_text="Roots with replies")
    reactions = ReactionSummarySerializer(many=True, required=False)
    pinned = serializers.BooleanField(required=False, help_text="true when pinned")


class MessagePageSerializer(serializers.Serializer):
    results = MessageSerializer(many=True)
    has_more = serializers.BooleanField(help_text="More messages exist in the direction paged")
    last_seq = serializers.IntegerField(help_text="The conversation's highest seq")
    first_seq = serializers.IntegerField(
        help_text="The lowest seq history still holds: retention deleted what was before it "
        "(1 until then)"
    )


class SendSerializer(serializers.Serializer):
    client_msg_id = serializers.CharField(trim_whitespace=False, allow_blank=True)
    body = serializers.CharField(
        trim_whitespace=False,
        allow_blank=True,
        required=False,
        default="",
        help_text="Required unless attachments are given",
    )
    attachments = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Up to 10 ids of your own uploads not attached yet (POST /api/uploads/)",
    )


class MessageSendSerializer(SendSerializer):
    reply_to = serializers.CharField(
        required=False,
        allow_null=True,
        default=None,
        help_text="The id of a message of this conversation this one answers",
    )


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
    unread_mentions = serializers.IntegerField(
        help_text="Unread messages that mention you (@username or @all); reading clears them"
    )
    joined_seq = serializers.IntegerField(help_text="Your history starts after this seq")
    last_change_seq = serializers.IntegerField(help_text="The newest edit/delete's change_seq")
    last_message = MessageSerializer(
        allow_null=True,
        help_text="The newest message you may see, as a message object (what a conversation "
        "list previews); null when there is none",
    )


class DirectOpenSerializer(serializers.Serializer):
    user = serializers.IntegerField(min_value=1, max_value=2**63 - 1)


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
    field = serializers.CharField(allow_null=True)


class MessageEditSerializer(serializers.Serializer):
    body = serializers.CharField(trim_whitespace=False, allow_blank=True)


class MessageChangeSerializer(serializers.Serializer):
    type = serializers.ChoiceField(
        choices=["message_updated", "message_deleted", "thread_updated", "reaction", "pins"]
    )
    conversation = serializers.IntegerField()
    id = serializers.CharField(required=False, help_text="The message (not on reaction frames)")
    seq = serializers.IntegerField(help_text="The seq of the message concerned")
    body = serializers.CharField(required=False, help_text="message_updated only")
    edited_at = serializers.DateTimeField(required=False, help_text="message_updated only")
    deleted_at = serializers.DateTimeField(required=False, help_text="message_deleted only")
    html = serializers.CharField(required=False, help_text="message_updated only: re-rendered")
    mentions = serializers.ListField(child=serializers.IntegerField(), required=False)
    mentions_all = serializers.BooleanField(required=False)
    thread_summary = ThreadSummarySerializer(required=False, help_text="thread_updated only")
    change_seq = serializers.IntegerField()


class ChangePageSerializer(serializers.Serializer):
    results = MessageChangeSerializer(many=True)
    has_more = serializers.BooleanField()
    last_change_seq = serializers.IntegerField(
        help_text="Continue from here: the last result's change_seq when has_more, else the "
        "conversation's last_change_seq"
    )


class MembershipSerializer(serializers.Serializer):
    conversation = serializers.IntegerField(source="conversation_id")
    role = serializers.CharField()
    muted = serializers.BooleanField(help_text="No offline push notifications when true")
    notify = serializers.ChoiceField(
        choices=["all", "mentions", "none"],
        help_text="What is pushed and mailed: all, mentions (and direct messages) or none; "
        "muted is notify == none",
    )
    delivered_seq = serializers.IntegerField()
    read_seq = serializers.IntegerField()
    joined_seq = serializers.IntegerField()


class MembershipPatchSerializer(serializers.Serializer):
    muted = serializers.BooleanField(required=False)
    notify = serializers.ChoiceField(choices=["all", "mentions", "none"], required=False)
