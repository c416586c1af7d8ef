from messaging.models import Message


class Announcement(Message):
    """Messages of the announcement conversation, for the admin's "post announcement" page."""

    class Meta:
        proxy = True
