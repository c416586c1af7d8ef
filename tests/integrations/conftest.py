import threading

import pytest

from integrations import outgoing


@pytest.fixture(autouse=True)
def _lane_timers_end_with_the_test(monkeypatch):
    """On the embedded default a retry waits in a daemon timer of the process
    (integrations.outgoing.lane_schedule). One still waiting when its test ended fired during
    a later test, against that test's database: cancel what is left at the end instead."""
    started: list[threading.Timer] = []

    class Timer(threading.Timer):
        def start(self) -> None:
            started.append(self)
            super().start()

    monkeypatch.setattr(outgoing.threading, "Timer", Timer)
    yield
    for timer in started:
        timer.cancel()
