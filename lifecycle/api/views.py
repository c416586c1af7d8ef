"""REST for the data lifecycle: imports (staff), exports, retention and account deletion.
Views parse, call one service or selector and shape the answer."""

from django.http import FileResponse, HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import BadRequest
from messaging.api.serializers import ErrorSerializer
from uploads.services import upload_storage

from ..deletion import account_delete_request
from ..exports import export_conversation_start, export_for_download, export_user_start
from ..models import Job
from ..retention import UNSET, retention_get, retention_set
from ..selectors import job_data, job_for
from ..services import slack_import_start

ERRORS = {400: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer}
EXPORTS = [Job.Kind.EXPORT_USER, Job.Kind.EXPORT_CONVERSATION]


class JobSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    # Not an enum in the schema: the conversation's `kind` enum has that field name already.
    kind = serializers.CharField(
        help_text="import_slack, export_user, export_conversation, account_delete or retention"
    )
    status = serializers.ChoiceField(choices=Job.Status.choices)
    progress = serializers.DictField(
        help_text="How far it is: stage, done, total (and for imports the current channel)"
    )
    summary = serializers.DictField(help_text="What it did, once done")
    error = serializers.CharField(allow_blank=True, help_text="Why it failed, once failed")
    conversation = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True, help_text="When a download expires")
    download_url = serializers.CharField(allow_null=True, help_text="An export, once done")
    size = serializers.IntegerField(allow_null=True)


class ImportRequestSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A Slack workspace export (zip)")
    dry_run = serializers.BooleanField(default=False, help_text="Check and count, write nothing")
    map_users = serializers.ChoiceField(
        choices=["email", "username"],
        default="email",
        help_text="How Slack users are matched to existing accounts",
    )


class ImportListView(APIView):
    permission_classes = [IsAdminUser]
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": ImportRequestSerializer},
        responses={202: JobSerializer, **ERRORS, 413: ErrorSerializer},
        description="Staff: queues the import of a Slack export (the same code as "
        "`manage.py import_slack`); follow it at GET /api/admin/imports/{id}/.",
    )
    def post(self, request: Request) -> Response:
        uploaded = request.FILES.get("file")
        if uploaded is None:
            raise BadRequest("Send the export as multipart/form-data field `file`.", field="file")
        form = ImportRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        job = slack_import_start(
            actor=request.user,
            stream=uploaded,
            size=uploaded.size,
            dry_run=form.validated_data["dry_run"],
            map_users=form.validated_data["map_users"],
        )
        job.refresh_from_db()
        return Response(job_data(job), status=status.HTTP_202_ACCEPTED)


class ImportView(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(responses={200: JobSerializer, 404: ErrorSerializer})
    def get(self, request: Request, job_id: str) -> Response:
        job = job_for(user=request.user, job_id=job_id, kinds=[Job.Kind.IMPORT_SLACK])
        return Response(job_data(job))


class MyExportListView(APIView):
    @extend_schema(
        request=None,
        responses={202: JobSerializer, 409: ErrorSerializer},
        description="Starts an export of your data (profile, conversations you are in, your "
        "messages, reactions, uploads and settings, as JSON with an HTML viewer). 409 while "
        "another of yours is running. Mailed when ready.",
    )
    def post(self, request: Request) -> Response:
        job = export_user_start(user=request.user)
        job.refresh_from_db()
        return Response(job_data(job), status=status.HTTP_202_ACCEPTED)


class MyExportView(APIView):
    @extend_schema(responses={200: JobSerializer, 404: ErrorSerializer})
    def get(self, request: Request, job_id: str) -> Response:
        return Response(job_data(job_for(user=request.user, job_id=job_id, kinds=EXPORTS)))


class ConversationExportView(APIView):
    @extend_schema(
        request=None,
        responses={202: JobSerializer, **ERRORS},
        description="The group's owner or staff: starts an export of the conversation (JSON "
        "and an HTML transcript); follow it at GET /api/exports/{id}/.",
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        job = export_conversation_start(actor=request.user, conversation_id=conversation_id)
        job.refresh_from_db()
        return Response(job_data(job), status=status.HTTP_202_ACCEPTED)


class ExportDownloadView(APIView):
    @extend_schema(
        responses={
            (200, "application/zip"): OpenApiResponse(description="The export (zip)"),
            404: ErrorSerializer,
            409: ErrorSerializer,
            410: ErrorSerializer,
        },
        description="Downloads a finished export of yours for PARLEY_EXPORT_DAYS (7) days; "
        "410 `gone` after that.",
    )
    def get(self, request: Request, job_id: str) -> HttpResponse:
        job = export_for_download(user=request.user, job_id=job_id)
        response = FileResponse(
            upload_storage().open(job.file_key, "rb"), content_type="application/zip"
        )
        response["Content-Disposition"] = (
            f'attachment; filename="{job.file_key.rsplit("/", 1)[-1]}"'
        )
        response["Cache-Control"] = "private, no-store"
        return response


class RetentionSerializer(serializers.Serializer):
    conversation = serializers.IntegerField()
    retention_days = serializers.IntegerField(
        allow_null=True, help_text="This conversation's own setting; null follows the server"
    )
    effective_days = serializers.IntegerField(
        allow_null=True, help_text="Days messages are kept here; null: forever"
    )
    server_days = serializers.IntegerField(allow_null=True, help_text="PARLEY_RETENTION_DAYS")
    legal_hold = serializers.BooleanField()
    first_seq = serializers.IntegerField(help_text="Where history starts now")
    can_edit = serializers.BooleanField()


class RetentionUpdateSerializer(serializers.Serializer):
    retention_days = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=-(2**31),
        max_value=2**31,
        help_text="1 to 36500 days; null follows the server's setting",
    )
    legal_hold = serializers.BooleanField(required=False, help_text="Staff only")


class RetentionView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(responses={200: RetentionSerializer, 404: ErrorSerializer})
    def get(self, request: Request, conversation_id: int) -> Response:
        return Response(retention_get(user=request.user, conversation_id=conversation_id))

    @extend_schema(
        request=RetentionUpdateSerializer,
        responses={200: RetentionSerializer, **ERRORS},
        description="Group owners/admins and staff set a group's retention; staff a direct "
        "chat's and legal holds. 400 for 0 or negative days.",
    )
    def patch(self, request: Request, conversation_id: int) -> Response:
        form = RetentionUpdateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        return Response(
            retention_set(
                actor=request.user,
                conversation_id=conversation_id,
                retention_days=data.get("retention_days", UNSET),
                legal_hold=data.get("legal_hold", UNSET),
            )
        )


class AccountDeleteSerializer(serializers.Serializer):
    password = serializers.CharField(required=False, allow_blank=True, max_length=4096)
    code = serializers.CharField(
        required=False, allow_blank=True, max_length=64, help_text="A two-factor code"
    )


def me_delete(request: Request) -> Response:
    """DELETE /api/me/ (routed by accounts' MeView)."""
    form = AccountDeleteSerializer(data=request.data)
    form.is_valid(raise_exception=True)
    job = account_delete_request(
        user=request.user,
        password=form.validated_data.get("password", ""),
        code=form.validated_data.get("code", ""),
        ip=request.META.get("REMOTE_ADDR"),
    )
    job.refresh_from_db()
    return Response(job_data(job), status=status.HTTP_202_ACCEPTED)


me_delete_schema = extend_schema(
    request=AccountDeleteSerializer,
    responses={202: JobSerializer, 400: ErrorSerializer, 429: ErrorSerializer},
    description="Deletes your account: confirm with `password` or a two-factor `code`. It "
    "stops working at once (every token refused, sockets closed with 4401); a job then "
    "anonymises it.",
)
