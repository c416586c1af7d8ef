from django.urls import path

from . import views

urlpatterns = [
    path("uploads/", views.UploadListView.as_view(), name="uploads"),
    path("uploads/<uuid:upload_id>/file", views.UploadFileView.as_view(), name="upload-file"),
    path(
        "uploads/<uuid:upload_id>/thumbnail",
        views.UploadThumbnailView.as_view(),
        name="upload-thumbnail",
    ),
]
