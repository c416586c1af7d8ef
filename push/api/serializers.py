from rest_framework import serializers


class WebPushConfigSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(help_text="Whether this server sends Web Push")
    public_key = serializers.CharField(
        allow_null=True, help_text="VAPID application server key (base64url), for subscribe()"
    )


class WebPushKeysSerializer(serializers.Serializer):
    p256dh = serializers.CharField()
    auth = serializers.CharField()


class WebPushSubscriptionSerializer(serializers.Serializer):
    endpoint = serializers.CharField(help_text="PushSubscription.endpoint (https)")
    keys = WebPushKeysSerializer()


class WebPushUnsubscribeSerializer(serializers.Serializer):
    endpoint = serializers.CharField()
