"""Browser pages for a forgotten password and for confirming a mail address. They call the
same services as the REST API (accounts.recovery)."""

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from accounts.recovery import email_verify, password_reset_confirm, password_reset_request
from core.errors import BadRequest, RateLimited
from protection.addresses import http_client_ip


class ResetRequestForm(forms.Form):
    email = forms.CharField(max_length=254, label="Email address")


class ResetConfirmForm(forms.Form):
    new_password = forms.CharField(
        max_length=128,
        label="New password",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    new_password_again = forms.CharField(
        max_length=128,
        label="New password (again)",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict:
        data = super().clean()
        if data.get("new_password") != data.get("new_password_again"):
            raise forms.ValidationError("The two passwords differ.")
        return data


def _ip(request: HttpRequest) -> str:
    return getattr(request, "client_ip", None) or http_client_ip(request.META)


@require_http_methods(["GET", "POST"])
def password_reset(request: HttpRequest) -> HttpResponse:
    form = ResetRequestForm(request.POST or None)
    context: dict = {"form": form}
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            password_reset_request(email=form.cleaned_data["email"], ip=_ip(request))
            context["sent"] = True
        except RateLimited as exc:
            context["error"] = exc.detail
            status = 429
    return render(request, "web/password_reset.html", context, status=status)


@require_http_methods(["GET", "POST"])
def password_reset_set(request: HttpRequest, uid: str, token: str) -> HttpResponse:
    form = ResetConfirmForm(request.POST or None)
    context: dict = {"form": form}
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            password_reset_confirm(
                uid=uid,
                token=token,
                new_password=form.cleaned_data["new_password"],
                ip=_ip(request),
            )
            context["done"] = True
        except RateLimited as exc:
            context["error"], status = exc.detail, 429
        except BadRequest as exc:
            context["error"], status = exc.detail, 400
    return render(request, "web/password_reset_set.html", context, status=status)


@require_http_methods(["GET"])
def verify_email(request: HttpRequest) -> HttpResponse:
    """Opening the mailed link confirms the address (the link carries a signed token)."""
    try:
        user = email_verify(token=request.GET.get("token", ""))
    except BadRequest as exc:
        return render(request, "web/email_verified.html", {"error": exc.detail}, status=400)
    return render(request, "web/email_verified.html", {"email": user.email})
