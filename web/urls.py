from django.contrib.auth import views as auth_views
from django.urls import path

from accounts.sso import SSOCallback, SSOStart

from . import recovery_views, views

urlpatterns = [
    path("", views.chat, name="home"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("login/otp/", views.login_otp, name="login-otp"),
    path("oidc/authenticate/", SSOStart.as_view(), name="sso-start"),
    path("oidc/callback/", SSOCallback.as_view(), name="sso-callback"),
    path("logout/", auth_views.LogoutView.as_view(next_page="login"), name="logout"),
    path("register/", views.register, name="register"),
    path("invite/<str:code>/", views.invite, name="invite"),
    path("settings/", views.settings_page, name="settings"),
    path("password/reset/", recovery_views.password_reset, name="password-reset-page"),
    path(
        "password/reset/<str:uid>/<str:token>/",
        recovery_views.password_reset_set,
        name="password-reset-set",
    ),
    path("email/verify/", recovery_views.verify_email, name="email-verify-page"),
]
