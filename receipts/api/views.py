from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging.api.serializers import ErrorSerializer
from receipts.services import receipt_mark


class ReadSerializer(serializers.Serializer):
    seq = serializers.IntegerField(min_value=0, max_value=2**63 - 1)


class ReceiptSerializer(serializers.Serializer):
    type = serializers.CharField(default="receipt")
    conversation = serializers.IntegerField()
    user = serializers.IntegerField()
    delivered_seq = serializers.IntegerField()
    read_seq = serializers.IntegerField()


class ReadView(APIView):
    @extend_schema(
        request=ReadSerializer,
        responses={200: ReceiptSerializer, 400: ErrorSerializer, 404: ErrorSerializer},
        description="Marks the conversation read up to `seq` (and so delivered), exactly as the "
        "WebSocket `read` frame does. Cursors never move back: a lower seq changes nothing. "
        "Answers your cursors after the change.",
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        serializer = ReadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(
            receipt_mark(
                user_id=request.user.pk,
                conversation_id=conversation_id,
                seq=serializer.validated_data["seq"],
                read=True,
            )
        )
