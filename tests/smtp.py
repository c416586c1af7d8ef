"""A real SMTP server on loopback (aiosmtpd) for tests that read the mail Parley sends."""

import email
import email.policy
import re
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

from tests.servers import free_port


class Mailbox:
    """Every message the server accepted, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._arrived = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._arrived:
            self.messages.append(message)  # type: ignore[arg-type]
            self._arrived.notify_all()
        return "250 OK"

    def wait_for(self, count: int = 1, *, to: str | None = None, timeout: float = 20) -> list:
        """The first `count` messages (to `to`, if given), waiting for them to arrive."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                found = [m for m in self.messages if to is None or to in str(m["To"])]
                if len(found) >= count:
                    return found[:count]
                left = deadline - time.monotonic()
                assert left > 0, f"{len(found)} of {count} mails arrived"
                self._arrived.wait(left)


def body_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def link_in(message: EmailMessage) -> str:
    found = re.search(r"https?://\S+", body_of(message))
    assert found, body_of(message)
    return found.group(0)


@pytest.fixture
def smtp_server(settings) -> Iterator[Mailbox]:
    """aiosmtpd on a free 127.0.0.1 port; Django's SMTP backend sends to it."""
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.PARLEY_PUBLIC_URL = "http://parley.test"
    mailbox.port = port  # type: ignore[attr-defined]
    try:
        yield mailbox
    finally:
        controller.stop()


@pytest.fixture
def eager_celery(settings) -> Iterator[None]:
    """Tasks run in the test's process, on both configurations (the PostgreSQL + Redis one has
    real workers in production; their tests start some, tests/workers.py)."""
    from chatsite.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = True
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = eager
