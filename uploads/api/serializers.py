from rest_framework import serializers


class UploadRequestSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The file (multipart/form-data, field `file`)")


class UploadSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="Upload id (a UUID): give it in a send's attachments")
    name = serializers.CharField()
    size = serializers.IntegerField(help_text="Bytes stored (images: without their metadata)")
    content_type = serializers.CharField(help_text="Sniffed from the bytes")
    url = serializers.CharField(help_text="Download: session or Bearer, members only")
    thumbnail_url = serializers.CharField(allow_null=True)
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
