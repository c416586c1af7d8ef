from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from announcements.services import broadcast_post
from messaging.api.serializers import AckSerializer, ErrorSerializer, SendSerializer


class BroadcastView(APIView):
    @extend_schema(
        request=SendSerializer,
        responses={
            201: AckSerializer,
            200: AckSerializer,
            400: ErrorSerializer,
            403: ErrorSerializer,
        },
        description="Staff only (others: 403 `forbidden`): posts to the announcement "
        "conversation, which every active user belongs to. Like any send: stored with a seq, "
        "delivered live, kept for sync; a repeated client_msg_id answers 200 with the original "
        "ack.",
    )
    def post(self, request: Request) -> Response:
        serializer = SendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ack = broadcast_post(actor=request.user, **serializer.validated_data)
        return Response(
            ack, status=status.HTTP_200_OK if ack["duplicate"] else status.HTTP_201_CREATED
        )
