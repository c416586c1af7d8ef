"""Pages of the browser UI. The chat itself is one page driven by static ES modules over the
REST API (session auth) and the WebSocket (session cookie)."""

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login

from accounts.services import user_register
from accounts.twofactor import login_ephemeral, login_second_step, twofactor_enabled
from core.errors import BadRequest, RateLimited
from protection.addresses import http_client_ip
from protection.services import registration_attempt_check

from .forms import RegisterForm


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico by themselves: send them to the static icon (its hashed
    name when the manifest storage is on), cached for a day."""
    response = redirect(static("parley/favicon.svg"), permanent=False)
    response["Cache-Control"] = "public, max-age=86400"
    return response


def chat(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect("login")
    if hasattr(request.user, "bot"):  # a bot (integrations.models.Bot) uses its API token
        return HttpResponse("Bots use the API, not the browser.", status=403)
    return render(request, "index.html")


def invite(request: HttpRequest, code: str) -> HttpResponse:
    """The page an invite link opens: the group's name and a Join button (invite.js); logged
    out, the login page first, which comes back here."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    return render(request, "web/invite.html", {"code": code})


def settings_page(request: HttpRequest) -> HttpResponse:
    """Profile, picture, password and sessions (static/parley/settings.js over the REST API)."""
    if not request.user.is_authenticated:
        return redirect(f"{reverse('login')}?next={reverse('settings')}")
    return render(request, "settings.html")


def _refused(response: HttpResponse, exc: RateLimited) -> HttpResponse:
    response["Retry-After"] = str(exc.retry_after)
    return response


class LoginView(auth_views.LoginView):
    """Django's login form; over a login limit (accounts.backends) the form is shown again with
    "Too many attempts, try again in N minutes", status 429 and Retry-After."""

    template_name = "web/login.html"
    redirect_authenticated_user = True
    next_page = "home"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["sso_enabled"] = settings.PARLEY_OIDC_ENABLED
        context["sso_only"] = settings.PARLEY_OIDC_ENABLED and settings.PARLEY_OIDC_ONLY
        context["sso_name"] = settings.PARLEY_OIDC_NAME
        context["sso_failed"] = self.request.GET.get("sso") == "failed"
        return context

    def form_valid(self, form: Any) -> HttpResponse:
        """With two-factor login on, the password step only leads to the code step."""
        user = form.get_user()
        if twofactor_enabled(user=user):
            self.request.session[OTP_STEP_SESSION_KEY] = login_ephemeral(user=user)
            self.request.session[OTP_NEXT_SESSION_KEY] = self.get_success_url()
            return redirect("login-otp")
        return super().form_valid(form)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if settings.PARLEY_OIDC_ENABLED and settings.PARLEY_OIDC_ONLY:
            return HttpResponse("Log in with single sign-on.", status=403)
        try:
            return super().post(request, *args, **kwargs)
        except RateLimited as exc:
            # An unbound form: a bound one would try to authenticate again when rendered.
            form = self.get_form_class()(
                request, initial={"username": request.POST.get("username")}
            )
            context = self.get_context_data(form=form, limit_message=exc.detail)
            return _refused(self.render_to_response(context, status=429), exc)


OTP_STEP_SESSION_KEY = "parley_otp_step"
OTP_NEXT_SESSION_KEY = "parley_otp_next"


@require_http_methods(["GET", "POST"])
def login_otp(request: HttpRequest) -> HttpResponse:
    """The code step of a browser login (after the password step, accounts.twofactor)."""
    ephemeral = request.session.get(OTP_STEP_SESSION_KEY)
    if not ephemeral:
        return redirect("login")
    if request.method != "POST":
        return render(request, "web/login_otp.html")
    try:
        user, device = login_second_step(
            ephemeral=ephemeral,
            code=request.POST.get("code", ""),
            ip=getattr(request, "client_ip", None) or http_client_ip(request.META),
        )
    except RateLimited as exc:
        page = render(request, "web/login_otp.html", {"error": exc.detail}, status=429)
        return _refused(page, exc)
    except BadRequest as exc:
        if exc.field == "ephemeral":
            request.session.pop(OTP_STEP_SESSION_KEY, None)
            return redirect("login")
        return render(request, "web/login_otp.html", {"error": exc.detail}, status=400)
    next_url = request.session.get(OTP_NEXT_SESSION_KEY) or reverse("home")
    login(request, user, backend="accounts.backends.UsernameBackend")
    otp_login(request, device)
    return redirect(next_url)


def admin_login(request: HttpRequest) -> HttpResponse:
    """The admin's own login view; over a login limit (accounts.backends), its form again with
    "Too many attempts, try again in N minutes", status 429 and Retry-After. With
    PARLEY_STAFF_2FA, staff log in through /login/ and its code step instead."""
    if settings.PARLEY_STAFF_2FA:
        if request.user.is_authenticated and request.user.is_staff:
            return render(request, "web/admin_needs_2fa.html", status=403)
        wanted = request.GET.get("next") or reverse("admin:index")
        return redirect(f"{reverse('login')}?{urlencode({'next': wanted})}")
    try:
        return admin.site.login(request)
    except RateLimited as exc:
        # Built as for a GET: an empty form that does not try to authenticate again (the
        # method is put back for the request log).
        request.method = "GET"
        try:
            page = admin.site.login(request, extra_context={"limit_message": exc.detail})
        finally:
            request.method = "POST"
        page.status_code = 429
        return _refused(page, exc)


@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    form = RegisterForm(request.POST or None)
    if request.method != "POST":
        return render(request, "web/register.html", {"form": form})
    ip = getattr(request, "client_ip", None) or http_client_ip(request.META)
    try:
        registration_attempt_check(ip=ip)
    except RateLimited as exc:
        page = render(
            request,
            "web/register.html",
            {
                "form": RegisterForm(initial={"username": request.POST.get("username")}),
                "limit_message": exc.detail,
            },
            status=429,
        )
        return _refused(page, exc)
    if not form.is_valid():
        return render(request, "web/register.html", {"form": form})
    try:
        user = user_register(
            username=form.cleaned_data["username"],
            password=form.cleaned_data["password"],
            email=form.cleaned_data.get("email", ""),
        )
    except BadRequest as exc:  # the name was taken by a registration racing this one
        form.add_error(exc.field if exc.field in form.fields else None, exc.detail)
        return render(request, "web/register.html", {"form": form}, status=400)
    login(request, user, backend="accounts.backends.UsernameBackend")
    return redirect("home")
