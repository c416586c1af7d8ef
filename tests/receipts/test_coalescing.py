"""The receipt gate of large conversations, against Redis or process memory (both runs)."""

import time

from receipts.coalescing import WINDOW, _offer, pop_due


def receipt(seq, user=7, conversation=3):
    return {
        "type": "receipt",
        "conversation": conversation,
        "user": user,
        "delivered_seq": seq,
        "read_seq": seq,
    }


def test_one_receipt_per_member_per_second_leaves_and_the_newest_held_one_follows():
    assert _offer(receipt(1))  # the gate was open: published at once
    assert not any(_offer(receipt(seq)) for seq in (2, 3, 4))  # held, newest kept
    assert _offer(receipt(1, user=8))  # other members have their own gate
    assert pop_due() == []  # not before the second is over
    time.sleep(WINDOW + 0.1)
    assert pop_due() == [receipt(4)]
    assert pop_due() == []
    # The flush closed the gate again: the next one waits too.
    assert not _offer(receipt(5))


def test_a_receipt_that_finds_the_gate_open_drops_the_held_older_one():
    assert _offer(receipt(1))
    assert not _offer(receipt(2))
    time.sleep(WINDOW + 0.1)
    assert _offer(receipt(3))  # before any flusher ran: goes out at once
    assert pop_due() == []  # so receipt 2 never follows it
