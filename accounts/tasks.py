"""Sending mail: a Celery task, so a slow or unreachable SMTP server never holds a request
(eager on the embedded default, where the console backend prints the mail)."""

import smtplib

from celery import shared_task
from django.core.mail import EmailMessage


@shared_task(
    acks_late=True,
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=8,
)
def mail_send(to: str, subject: str, body: str, headers: dict[str, str] | None = None) -> None:
    """One plain-text mail through the configured backend (EMAIL_*); retried with backoff
    while the SMTP server is unreachable or refuses it for now."""
    EmailMessage(subject=subject, body=body, to=[to], headers=headers or {}).send()
