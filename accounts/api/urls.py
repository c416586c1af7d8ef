from django.urls import path

from . import profile_views, views

urlpatterns = [
    path("auth/register/", views.RegisterView.as_view(), name="register"),
    path("auth/token/", views.LoginView.as_view(), name="token"),
    path("auth/token/refresh/", views.RefreshView.as_view(), name="token-refresh"),
    path("auth/logout/", views.LogoutView.as_view(), name="logout"),
    path("auth/logout/all/", views.LogoutEverywhereView.as_view(), name="logout-all"),
    path("auth/password/", views.PasswordChangeView.as_view(), name="password-change"),
    path("me/", views.MeView.as_view(), name="me"),
    path("me/profile/", profile_views.ProfileView.as_view(), name="me-profile"),
    path("me/avatar/", profile_views.AvatarView.as_view(), name="me-avatar"),
    path("users/", views.UserSearchView.as_view(), name="users"),
]
