from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chatsite.db.replicas import replica_reads
from messaging.api.serializers import ErrorSerializer
from protection.throttles import BucketThrottle, RestWriteThrottle
from search.selectors import message_search

from .serializers import SearchPageSerializer, SearchQuerySerializer


class SearchThrottle(BucketThrottle):
    """Searches per user (PARLEY_RATE_SEARCH): one costs more than any other read."""

    limit = "search"

    def key(self, request: Request, ip: str) -> str | None:
        return f"user.{request.user.pk}" if request.user.is_authenticated else f"ip.{ip}"


class SearchView(APIView):
    throttle_classes = [RestWriteThrottle, SearchThrottle]

    @extend_schema(
        parameters=[SearchQuerySerializer],
        responses={200: SearchPageSerializer, 400: ErrorSerializer, 429: ErrorSerializer},
        description="Full-text search over the messages you may read (history's rule: your "
        "conversations, from your join on; deleted messages never match). Newest first, or "
        "`sort=relevance`. `next` is the cursor of the following page (null on the last). "
        "Rate-limited per user (PARLEY_RATE_SEARCH): 429 rate_limited with Retry-After.",
    )
    def get(self, request: Request) -> Response:
        query = SearchQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        with replica_reads(user_id=request.user.pk):  # search tolerates the replica's lag
            page = message_search(
                user_id=request.user.pk,
                q=data["q"],
                conversation_id=data.get("conversation"),
                sender_id=data.get("from"),
                before=data.get("before"),
                after=data.get("after"),
                has=data.get("has"),
                sort=data["sort"],
                limit=data["limit"],
                cursor=data.get("cursor"),
            )
        return Response(page)
