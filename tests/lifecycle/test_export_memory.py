"""A 100,000-message conversation exports in bounded memory: messages stream from keyset pages
into the zip, never all at once (PostgreSQL: the messages are bulk-inserted with COPY)."""

import os
import threading
import time
import zipfile
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from lifecycle.exports import ExportZip, conversation_export_write
from messaging import partitions
from messaging.ids import message_id_floor
from tests.factories import make_group, make_user

COUNT = int(os.environ.get("PARLEY_EXPORT_TEST_COUNT", 100_000))
BODY = "a message of ordinary length, about as long as people write them in a busy group"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_100k_message_export_streams_in_bounded_memory(tmp_path):
    alice, bob = make_user("alice"), make_user("bob")
    group = make_group(alice, bob, name="big")
    start = timezone.now() - timedelta(days=1)
    partitions.partitions_ensure(ahead=1, today=start.date())
    base = message_id_floor(start)
    with connection.cursor() as cursor:
        with cursor.copy(
            "COPY messaging_message (id, conversation_id, seq, sender_id, body, html, created_at, "
            "change_seq, mentions_all) FROM STDIN"
        ) as copy:
            for n in range(1, COUNT + 1):
                copy.write_row(
                    (
                        base + n * 4096 * 1024,  # a millisecond apart
                        group.pk,
                        n,
                        alice.pk if n % 2 else bob.pk,
                        f"{n} {BODY}",
                        f"<p>{n} {BODY}</p>",
                        start + timedelta(milliseconds=n),
                        0,
                        False,
                    )
                )
        cursor.execute(
            "UPDATE messaging_conversation SET last_seq = %s WHERE id = %s", [COUNT, group.pk]
        )
    group.refresh_from_db()

    path = tmp_path / "big.zip"
    inserted = time.monotonic()
    with ResidentPeak() as memory:
        out = ExportZip(path)
        written = conversation_export_write(out, group)
        out.close()
    took = time.monotonic() - inserted

    assert written == COUNT
    with zipfile.ZipFile(path) as archive:
        size = archive.getinfo("messages.json").file_size
        with archive.open("messages.json") as messages:
            head = messages.read(200).decode()
    assert '"seq": 1,' in head
    # The messages are tens of MB of JSON (hundreds as Python objects); the export holds a page.
    assert size > COUNT * 250
    assert memory.growth < 40_000_000, f"resident memory grew {memory.growth / 1e6:.1f} MB"
    print(
        f"{COUNT}-message export: messages.json {size / 1e6:.1f} MB, resident memory grew "
        f"{memory.growth / 1e6:.1f} MB, {took:.1f} s"
    )


class ResidentPeak:
    """The growth of this process's resident set while the block runs (sampled every 10 ms
    from /proc/self/statm), so the measurement costs the measured code nothing."""

    def __enter__(self) -> "ResidentPeak":
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.base = self._rss()
        self.peak = self.base
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _rss(self) -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * self.page

    def _sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, self._rss())
            time.sleep(0.01)

    def __exit__(self, *exc: object) -> None:
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, self._rss())
        self.growth = self.peak - self.base
