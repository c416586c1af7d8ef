"""The `search` scenario: message search on a large database, in-process (no HTTP).

It fills a database with `--messages` messages over `--conversations` conversations and
`--users` users (once: a second run on the same database reuses them), with word frequencies
that follow Zipf's law over a vocabulary of made-up words, then issues `--queries` different
1-3 word queries, each by a random member, and reports the latency of the first page
(message_search: the page query, the messages, highlights and conversations) and, on
PostgreSQL, the rows the page query examined (EXPLAIN ANALYZE).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/parley_search_bench \\
    REDIS_URL=redis://127.0.0.1:6379/9 .venv/bin/python -m bench.search --messages 1000000
    PARLEY_VAR_DIR=var/bench-search .venv/bin/python -m bench.search --messages 100000

Use a database of its own: it is migrated, and bulk-loaded with users named sb-<n>.
"""

import argparse
import io
import itertools
import json
import math
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SYLLABLES = [
    "ka", "lo", "mi", "ne", "ru", "ta", "so", "vi", "de", "po", "la", "shi", "an", "el",
    "or", "tu", "bra", "ken", "mo", "zi", "fa", "gu", "ha", "ye",
]  # fmt: skip


def vocabulary(size: int, rng: random.Random) -> list[str]:
    """`size` distinct made-up words, most frequent first (short words are the common ones)."""
    words: list[str] = []
    seen: set[str] = set()
    length = 1
    while len(words) < size:
        for _ in range(size * 3):
            word = "".join(rng.choice(SYLLABLES) for _ in range(length))
            if word not in seen:
                seen.add(word)
                words.append(word)
                if len(words) == size:
                    break
        length += 1
    return words


def zipf_weights(n: int, s: float = 1.07) -> list[float]:
    """Cumulative weights of ranks 1..n under Zipf's law with exponent s."""
    return list(itertools.accumulate(1 / (rank**s) for rank in range(1, n + 1)))


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def populate(args: argparse.Namespace) -> None:
    from django.db import connection, transaction

    from accounts.models import User
    from messaging import partitions
    from messaging.ids import message_id_floor
    from messaging.models import Conversation, Membership

    rng = random.Random(args.seed)
    words = vocabulary(args.vocabulary, rng)
    cumulative = zipf_weights(len(words))

    _log(f"users: {args.users}")
    users = [User(username=f"sb-{n}") for n in range(args.users)]
    for user in users:
        user.set_unusable_password()
    User.objects.bulk_create(users, batch_size=2000)
    user_ids = list(
        User.objects.filter(username__startswith="sb-").order_by("pk").values_list("pk", flat=True)
    )

    # A fifth are groups (sizes 3..200, most small), the rest direct chats.
    groups = args.conversations // 5
    directs = args.conversations - groups
    conversations = [Conversation(kind="group", name=f"group {n}") for n in range(groups)]
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < directs:
        a, b = sorted(rng.sample(user_ids, 2))
        pairs.add((a, b))
    conversations += [Conversation(kind="direct", direct_key=f"{a}:{b}") for a, b in pairs]
    with transaction.atomic():
        Conversation.objects.bulk_create(conversations, batch_size=1000)
    conversations = list(Conversation.objects.filter(kind__in=["group", "direct"]).order_by("pk"))
    members: dict[int, list[int]] = {}
    pair_list = sorted(pairs)
    for conversation in conversations:
        if conversation.kind == "direct":
            a, b = map(int, conversation.direct_key.split(":"))
            members[conversation.pk] = [a, b]
        else:
            size = min(200, max(3, int(3 / (rng.random() ** 0.9))))
            members[conversation.pk] = rng.sample(user_ids, size)
    del pair_list

    # Busy conversations get most messages (Zipf over conversations too).
    conversation_ids = [c.pk for c in conversations]
    rng.shuffle(conversation_ids)
    conversation_weights = zipf_weights(len(conversation_ids), 0.8)

    start = datetime.now(UTC) - timedelta(days=args.days)
    month = partitions.month_start(start)
    if partitions.is_partitioned():
        with connection.cursor() as cursor:
            while month <= partitions.month_start(datetime.now(UTC)):
                cursor.execute(partitions.create_partition_sql(month))
                month = partitions.add_months(month, 1)

    _log(f"messages: {args.messages} (bodies of 3-25 Zipf-distributed words)")
    step_ms = args.days * 86_400_000 / args.messages
    base = message_id_floor(start)
    seqs: dict[int, int] = {}
    chosen = rng.choices(conversation_ids, cum_weights=conversation_weights, k=args.messages)
    lengths = [min(25, max(3, int(rng.lognormvariate(2.1, 0.6)))) for _ in range(args.messages)]
    flat = rng.choices(words, cum_weights=cumulative, k=sum(lengths))
    rows = []
    position = 0
    for n in range(args.messages):
        conversation_id = chosen[n]
        seq = seqs.get(conversation_id, 0) + 1
        seqs[conversation_id] = seq
        body = " ".join(flat[position : position + lengths[n]])
        position += lengths[n]
        if rng.random() < 0.03:
            body += f" https://example.com/{words[rng.randrange(len(words))]}"
        message_id = base + (int(n * step_ms) << 22) + (n & 0xFFF)
        sender = rng.choice(members[conversation_id])
        rows.append((message_id, conversation_id, seq, sender, body))

    created = [start + timedelta(milliseconds=n * step_ms) for n in range(args.messages)]
    if connection.vendor == "postgresql":
        from search.schema import GIN_INDEX

        # Bulk load as an operator would: the GIN index is built once after the rows are in.
        with connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX IF EXISTS {GIN_INDEX}")
            buffer = io.StringIO()
            for (message_id, conversation_id, seq, sender, body), at in zip(
                rows, created, strict=True
            ):
                buffer.write(
                    f"{message_id}\t{conversation_id}\t{seq}\t{sender}\t{body}\t"
                    f"{at.isoformat()}\tb{message_id}\t0\n"
                )
            buffer.seek(0)
            with cursor.copy(
                "COPY messaging_message (id, conversation_id, seq, sender_id, body, created_at,"
                " client_msg_id, change_seq) FROM STDIN"
            ) as copy:
                while chunk := buffer.read(1 << 20):
                    copy.write(chunk)
            buffer = io.StringIO()
            for message_id, conversation_id, seq, sender, _ in rows:
                buffer.write(f"{message_id}\t{conversation_id}\t{seq}\t{sender}\tb{message_id}\n")
            buffer.seek(0)
            with cursor.copy(
                "COPY messaging_message_key (message_id, conversation_id, seq, sender_id,"
                " client_msg_id) FROM STDIN"
            ) as copy:
                while chunk := buffer.read(1 << 20):
                    copy.write(chunk)
            _log("building the GIN index")
            cursor.execute(
                f"CREATE INDEX {GIN_INDEX} ON messaging_message USING gin (search_vector)"
            )
    else:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO messaging_message (id, conversation_id, seq, sender_id, body,"
                " created_at, client_msg_id, change_seq, html, mentions_all)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, 0, '', false)",
                [
                    (*row, at.isoformat(), f"b{row[0]}")
                    for row, at in zip(rows, created, strict=True)
                ],
            )
            cursor.executemany(
                "INSERT INTO messaging_message_key (message_id, conversation_id, seq, sender_id,"
                " client_msg_id) VALUES (%s, %s, %s, %s, %s)",
                [(r[0], r[1], r[2], r[3], f"b{r[0]}") for r in rows],
            )
    for conversation in conversations:
        conversation.last_seq = seqs.get(conversation.pk, 0)
    Conversation.objects.bulk_update(conversations, ["last_seq"], batch_size=1000)
    # A tenth of group members joined later: their history (and search) starts at their join.
    memberships = []
    for conversation in conversations:
        last = seqs.get(conversation.pk, 0)
        for user_id in members[conversation.pk]:
            joined = (
                rng.randrange(last)
                if conversation.kind == "group" and last and rng.random() < 0.1
                else 0
            )
            memberships.append(
                Membership(conversation_id=conversation.pk, user_id=user_id, joined_seq=joined)
            )
    Membership.objects.bulk_create(memberships, batch_size=5000)
    _log("ANALYZE")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    (Path(args.state)).write_text(json.dumps({"words": words[:5000]}))


def rows_examined(sql: str) -> int:
    """Rows the page query read from tables and indexes (EXPLAIN ANALYZE): per scan node, rows
    returned plus rows its filter or recheck removed, times its loops."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    total = 0

    def walk(node: dict) -> None:
        nonlocal total
        if "Scan" in node["Node Type"] and "Bitmap Index" not in node["Node Type"]:
            loops = node.get("Actual Loops", 1)
            total += loops * (
                node.get("Actual Rows", 0)
                + node.get("Rows Removed by Filter", 0)
                + node.get("Rows Removed by Index Recheck", 0)
            )
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return total


def measure(args: argparse.Namespace) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bench.stats import latency_summary
    from messaging.models import Membership
    from search.selectors import message_search

    rng = random.Random(args.seed + 1)
    words = json.loads(Path(args.state).read_text())["words"]
    members = list(
        Membership.objects.filter(user__username__startswith="sb-")
        .values_list("user_id", flat=True)
        .distinct()
    )
    common = set(words[:20])
    queries: list[str] = []
    searchers: list[int] = []
    while len(queries) < args.queries:
        user_id = rng.choice(members)
        count = rng.choices([1, 2, 3], weights=[50, 35, 15])[0]
        if len(queries) % 2 == 0:
            # Half recall a message they can read: some of its words (not the commonest).
            page = message_search(user_id=user_id, q=rng.choice(words[20:200]), limit=20)
            bodies = [r["message"]["body"] for r in page["results"]]
            candidates = [
                w
                for w in (rng.choice(bodies) if bodies else "").split()
                if w not in common and "/" not in w
            ]
            if len(candidates) < count:
                continue
            picked = rng.sample(candidates, count)
        else:
            # Half are words drawn log-uniformly from ranks 20-3000: common and rare alike,
            # often found nowhere the searcher can read (the index must prove that quickly).
            picked = [
                words[int(math.exp(rng.uniform(math.log(20), math.log(3000))))]
                for _ in range(count)
            ]
        q = " ".join(picked)
        if q not in queries:
            queries.append(q)
            searchers.append(user_id)

    result: dict = {
        "configuration": "postgres" if connection.vendor == "postgresql" else "sqlite",
        "messages": args.messages,
        "queries": len(queries),
    }
    message_search(user_id=searchers[0], q="warmup")  # the connection, not a measurement
    result["load_average_1min_before"] = round(os.getloadavg()[0], 2)
    for sort in ("newest", "relevance"):
        # The first pass: each query once, as a user would issue it. Then `--repeat` more
        # times each, keeping each query's median: on a shared machine a single sample is
        # often a wait for a CPU, not the query's cost.
        for warm in (False, True):
            seconds = []
            found = []
            for q, user_id in zip(queries, searchers, strict=True):
                samples = []
                for _ in range(args.repeat if warm else 1):
                    started = time.perf_counter()
                    page = message_search(user_id=user_id, q=q, sort=sort)
                    samples.append(time.perf_counter() - started)
                seconds.append(statistics.median(samples))
                found.append(len(page["results"]))
            key = f"{sort}_{f'median_of_{args.repeat}' if warm else 'first_pass'}"
            result[key] = {
                "latency_ms": latency_summary(seconds),
                "queries_with_results": sum(1 for n in found if n),
                "full_pages": sum(1 for n in found if n == 20),
            }
            _log(f"{key}: {result[key]}")
    if connection.vendor == "postgresql":
        examined = []
        for q, user_id in zip(queries, searchers, strict=True):
            with CaptureQueriesContext(connection) as captured:
                message_search(user_id=user_id, q=q)
            [sql] = [
                c["sql"]
                for c in captured.captured_queries
                if "@@" in c["sql"] and "LIMIT" in c["sql"]
            ]
            examined.append(rows_examined(sql))
        ordered = sorted(examined)
        result["rows_examined"] = {
            "p50": ordered[len(ordered) // 2],
            "p95": ordered[math.ceil(0.95 * len(ordered)) - 1],
            "max": ordered[-1],
        }
    else:
        with connection.cursor() as cursor:
            matched = []
            from search.syntax import fts5_query

            for q in queries:
                cursor.execute(
                    "SELECT count(*) FROM search_message_fts WHERE search_message_fts MATCH %s",
                    [fts5_query(q)],
                )
                matched.append(cursor.fetchone()[0])
        ordered = sorted(matched)
        result["fts_matches_before_visibility"] = {
            "p50": ordered[len(ordered) // 2],
            "p95": ordered[math.ceil(0.95 * len(ordered)) - 1],
            "max": ordered[-1],
        }
    result["load_average_1min_after"] = round(os.getloadavg()[0], 2)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT pg_size_pretty(sum(pg_relation_size(indexrelid))) FROM pg_index"
                " WHERE indexrelid::regclass::text LIKE %s",
                ["%search_vector_idx"],
            )
            result["gin_index_size"] = cursor.fetchone()[0]
            cursor.execute(
                "SELECT pg_size_pretty(sum(pg_total_relation_size(inhrelid))) FROM pg_inherits"
                " WHERE inhparent = 'messaging_message'::regclass"
            )
            result["message_table_total_size"] = cursor.fetchone()[0]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.search", description=__doc__)
    parser.add_argument("--messages", type=int, default=None, help="default 1e6 PG, 1e5 SQLite")
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--vocabulary", type=int, default=30_000)
    parser.add_argument("--days", type=int, default=180, help="the messages span this many days")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--repeat", type=int, default=5, help="runs per query after the first")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from accounts.models import User

    if args.messages is None:
        args.messages = 1_000_000 if connection.vendor == "postgresql" else 100_000
    call_command("migrate", verbosity=0)
    name = Path(str(connection.settings_dict["NAME"])).name
    args.state = str(ROOT / "var" / f"bench-search-{connection.vendor}-{name}.json")
    Path(args.state).parent.mkdir(parents=True, exist_ok=True)
    if not User.objects.filter(username="sb-0").exists():
        started = time.monotonic()
        populate(args)
        _log(f"populated in {time.monotonic() - started:.0f} s")
    elif not Path(args.state).exists():
        sys.exit("this database holds bench users from another run: use a fresh database")
    result = measure(args)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
