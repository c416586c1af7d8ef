from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import BadRequest
from messaging.api.serializers import ErrorSerializer
from push.backends import vapid_public_key
from push.services import webpush_subscribe, webpush_unsubscribe

from .serializers import (
    WebPushConfigSerializer,
    WebPushSubscriptionSerializer,
    WebPushUnsubscribeSerializer,
)


class WebPushConfigView(APIView):
    @extend_schema(responses=WebPushConfigSerializer)
    def get(self, request: Request) -> Response:
        public_key = vapid_public_key()
        return Response({"enabled": public_key is not None, "public_key": public_key})


class WebPushSubscriptionView(APIView):
    @extend_schema(
        request=WebPushSubscriptionSerializer,
        responses={201: None, 200: None, 400: ErrorSerializer, 409: ErrorSerializer},
        description="Registers the browser's PushSubscription (its toJSON()) for offline "
        "notifications: 201 when new, 200 when it was known. 400 when the endpoint is not https "
        "on port 443 resolving to public addresses only; 409 when another account registered "
        "the endpoint first (it keeps it).",
    )
    def post(self, request: Request) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        keys = data.get("keys")
        if not isinstance(keys, dict):
            raise BadRequest("keys must be an object with p256dh and auth", field="keys")
        created = webpush_subscribe(
            user_id=request.user.pk,
            endpoint=data.get("endpoint"),
            p256dh=keys.get("p256dh"),
            auth=keys.get("auth"),
        )
        return Response(status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(
        request=WebPushUnsubscribeSerializer,
        responses={204: None, 400: ErrorSerializer},
        description="Forgets the subscription with that endpoint.",
    )
    def delete(self, request: Request) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        if not isinstance(data.get("endpoint"), str):
            raise BadRequest("endpoint is required", field="endpoint")
        webpush_unsubscribe(user_id=request.user.pk, endpoint=data["endpoint"])
        return Response(status=status.HTTP_204_NO_CONTENT)
