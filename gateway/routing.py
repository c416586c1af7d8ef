from django.urls import URLPattern, path

from .consumer import GatewayConsumer
from .runtime import Runtime


def websocket_urlpatterns(runtime: Runtime) -> list[URLPattern]:
    """The gateway's one endpoint; every socket shares the process's runtime."""
    return [path("ws/", GatewayConsumer.as_asgi(runtime=runtime))]
