"""Uploading and downloading files. Downloads are authenticated like the rest of the API
(session cookie or Bearer token) and answer 404 to anyone who may not see the file."""

from urllib.parse import quote

from django.conf import settings
from django.http import FileResponse, HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import BadRequest, NotFound
from messaging.api.serializers import ErrorSerializer

from ..errors import FileTooLarge
from ..events import attachment_ref
from ..selectors import upload_for_download
from ..services import upload_create, upload_storage
from ..sniffing import INLINE_TYPES
from .serializers import UploadRequestSerializer, UploadSerializer

# Room for the multipart boundary and part headers around the file.
MULTIPART_OVERHEAD = 64 * 1024


class UploadListView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": UploadRequestSerializer},
        responses={
            201: UploadSerializer,
            400: ErrorSerializer,
            413: ErrorSerializer,
            415: ErrorSerializer,
        },
        description="Stores a file (field `file`). It is yours alone until you attach it to a "
        "message (`attachments` of a send). 413 `file_too_large` over PARLEY_UPLOAD_MAX_BYTES, "
        "413 `quota_exceeded` past PARLEY_UPLOAD_QUOTA_BYTES, 415 `unsupported_file_type` for "
        "programs, 400 `image_too_large` for an image with too many pixels.",
    )
    def post(self, request: Request) -> Response:
        limit = settings.PARLEY_UPLOAD_MAX_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit + MULTIPART_OVERHEAD:  # refused before the body is parsed
            raise FileTooLarge(limit=limit)
        uploaded = request.FILES.get("file")
        if uploaded is None:
            raise BadRequest("Send the file as multipart/form-data field `file`.", field="file")
        upload = upload_create(
            owner=request.user, stream=uploaded, name=uploaded.name, size=uploaded.size
        )
        return Response(attachment_ref(upload), status=status.HTTP_201_CREATED)


def _file_response(*, key: str, content_type: str, name: str) -> HttpResponse:
    inline = content_type in INLINE_TYPES
    # Anything not shown inline is offered as a download of opaque bytes: an uploaded HTML or
    # SVG page must never run in the app's origin.
    served_type = content_type if inline else "application/octet-stream"
    if settings.PARLEY_UPLOAD_X_ACCEL_PREFIX:
        response = HttpResponse(content_type=served_type)
        response["X-Accel-Redirect"] = settings.PARLEY_UPLOAD_X_ACCEL_PREFIX + key
    else:
        try:
            handle = upload_storage().open(key, "rb")
        except FileNotFoundError:
            raise NotFound("No such file.", field="id") from None
        response = FileResponse(handle, content_type=served_type)
    disposition = "inline" if inline else "attachment"
    ascii_name = (
        name.encode("ascii", "ignore").decode().replace('"', "").replace("\\", "") or "file"
    )
    response["Content-Disposition"] = (
        f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
    )
    response["X-Content-Type-Options"] = "nosniff"
    # Even a browser that ignored the above would run nothing from this response.
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    return response


class _DownloadView(APIView):
    # A stranger (not signed in) gets the same 404 as a non-member: nothing tells them a file
    # exists.
    permission_classes: list = []

    def download_for(self, request: Request, upload_id: object):  # type: ignore[no-untyped-def]
        if not request.user.is_authenticated:
            raise NotFound("No such file.", field="id")
        return upload_for_download(user_id=request.user.pk, upload_id=str(upload_id))


class UploadFileView(_DownloadView):
    @extend_schema(
        responses={(200, "*/*"): OpenApiResponse(description="The file"), 404: ErrorSerializer},
        description="The file, for its owner and the members of the conversation it is "
        "attached in (404 for anyone else). Images and PDFs inline; anything else as an "
        "attachment of type application/octet-stream.",
    )
    def get(self, request: Request, upload_id: str) -> HttpResponse:
        upload = self.download_for(request, upload_id)
        return _file_response(key=upload.key, content_type=upload.content_type, name=upload.name)


class UploadThumbnailView(_DownloadView):
    @extend_schema(
        responses={
            (200, "image/*"): OpenApiResponse(description="Thumbnail"),
            404: ErrorSerializer,
        },
        description="An image's thumbnail (at most 480x480), for those who may download it.",
    )
    def get(self, request: Request, upload_id: str) -> HttpResponse:
        upload = self.download_for(request, upload_id)
        if not upload.thumbnail_key:
            raise NotFound("This file has no thumbnail.", field="id")
        kind = "image/png" if upload.thumbnail_key.endswith(".png") else "image/jpeg"
        stem = upload.name.rsplit(".", 1)[0]
        return _file_response(
            key=upload.thumbnail_key, content_type=kind, name=f"{stem}-thumbnail.{kind[6:]}"
        )
