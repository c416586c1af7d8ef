from django.urls import path

from . import profile_views, recovery_views, twofactor_views, views

urlpatterns = [
    path("auth/register/", views.RegisterView.as_view(), name="register"),
    path("auth/token/", views.LoginView.as_view(), name="token"),
    path("auth/token/otp/", twofactor_views.OtpLoginView.as_view(), name="token-otp"),
    path("auth/2fa/", twofactor_views.TwoFactorView.as_view(), name="twofactor"),
    path("auth/2fa/setup/", twofactor_views.TwoFactorSetupView.as_view(), name="twofactor-setup"),
    path(
        "auth/2fa/confirm/",
        twofactor_views.TwoFactorConfirmView.as_view(),
        name="twofactor-confirm",
    ),
    path(
        "auth/2fa/disable/",
        twofactor_views.TwoFactorDisableView.as_view(),
        name="twofactor-disable",
    ),
    path("auth/token/refresh/", views.RefreshView.as_view(), name="token-refresh"),
    path("auth/logout/", views.LogoutView.as_view(), name="logout"),
    path("auth/logout/all/", views.LogoutEverywhereView.as_view(), name="logout-all"),
    path("auth/password/", views.PasswordChangeView.as_view(), name="password-change"),
    path("auth/password/reset/", recovery_views.PasswordResetView.as_view(), name="password-reset"),
    path(
        "auth/password/reset/confirm/",
        recovery_views.PasswordResetConfirmView.as_view(),
        name="password-reset-confirm",
    ),
    path("auth/email/verify/", recovery_views.EmailVerifyView.as_view(), name="email-verify"),
    path("me/email/", recovery_views.EmailView.as_view(), name="me-email"),
    path(
        "me/email/verification/",
        recovery_views.EmailVerificationResendView.as_view(),
        name="me-email-verification",
    ),
    path("me/", views.MeView.as_view(), name="me"),
    path("me/profile/", profile_views.ProfileView.as_view(), name="me-profile"),
    path("me/avatar/", profile_views.AvatarView.as_view(), name="me-avatar"),
    path("me/sessions/", profile_views.LoginSessionsView.as_view(), name="me-sessions"),
    path(
        "me/sessions/<slug:session_id>/",
        profile_views.LoginSessionView.as_view(),
        name="me-session",
    ),
    path("users/", views.UserSearchView.as_view(), name="users"),
]
