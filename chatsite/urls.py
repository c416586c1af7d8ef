from django.contrib import admin
from django.urls import include, path, re_path, register_converter
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.api.profile_views import avatar_file
from notifications.api import NotificationPrefsView, unsubscribe
from web.views import admin_login

from .converters import DatabaseIdConverter
from .health import healthz, metrics_view, readyz

register_converter(DatabaseIdConverter, "dbid")

urlpatterns = [
    # The admin login shows a login limit's refusal on its own page (web.views.admin_login).
    path("admin/login/", admin_login),
    # The audit log moved from the moderation app to its own (audit/): old links still work.
    re_path(
        r"^admin/moderation/auditlogentry/(?P<rest>.*)$",
        RedirectView.as_view(url="/admin/audit/auditlogentry/%(rest)s", query_string=True),
    ),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="prometheus-metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("avatars/<slug:key>/<int:size>.webp", avatar_file, name="avatar"),
    path("api/me/notifications/", NotificationPrefsView.as_view(), name="me-notifications"),
    path("notifications/unsubscribe/", unsubscribe, name="unsubscribe"),
    path("api/", include("accounts.api.urls")),
    path("api/", include("messaging.api.urls")),
    path("api/", include("conversations.api.urls")),
    path("api/", include("groups.api.urls")),
    path("api/", include("announcements.api.urls")),
    path("api/", include("push.api.urls")),
    path("api/", include("receipts.api.urls")),
    path("api/", include("presence.api.urls")),
    path("api/", include("search.api.urls")),
    path("api/", include("uploads.api.urls")),
    path("api/", include("integrations.api.urls")),
    path("api/", include("lifecycle.api.urls")),
    path("", include("integrations.hooks_urls")),
    path("", include("web.urls")),
]

handler404 = "chatsite.api.not_found"
handler500 = "chatsite.api.server_error"
