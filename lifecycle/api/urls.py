from django.urls import path

from . import views

urlpatterns = [
    path("admin/imports/", views.ImportListView.as_view(), name="imports"),
    path("admin/imports/<uuid:job_id>/", views.ImportView.as_view(), name="import"),
    path("me/export/", views.MyExportListView.as_view(), name="me-exports"),
    path("me/export/<uuid:job_id>/", views.MyExportView.as_view(), name="me-export"),
    path("exports/<uuid:job_id>/", views.MyExportView.as_view(), name="export"),
    path(
        "exports/<uuid:job_id>/download/",
        views.ExportDownloadView.as_view(),
        name="export-download",
    ),
    path(
        "conversations/<dbid:conversation_id>/export/",
        views.ConversationExportView.as_view(),
        name="conversation-export",
    ),
    path(
        "conversations/<dbid:conversation_id>/retention/",
        views.RetentionView.as_view(),
        name="conversation-retention",
    ),
]
