"""Run a coroutine eagerly: its first step at once, in the caller's stack, and a task only when
it really has to wait.

A group fan-out hands one frame to a thousand idle sockets; each socket's write to the ASGI
server almost never waits (the transport takes it). Making a task for each of those writes (or
waking one) costs about as much as the write itself. Python 3.12's eager task factory does this
for every task; on 3.11 this does it for one coroutine.
"""

import asyncio
import collections.abc
import contextvars
from collections.abc import Coroutine, Generator
from typing import Any


def run_eagerly(
    coro: Coroutine[Any, Any, Any], *, context: contextvars.Context | None = None
) -> asyncio.Task[Any] | None:
    """Runs `coro` (in `context`, if given) until it first suspends or finishes.

    Finished: returns None (its result is dropped; an exception it raised is raised here).
    Suspended: returns a task, in the running loop, that carries it on from where it waits, so
    it is awaited and cancelled like any task.
    """
    try:
        pending = context.run(coro.send, None) if context is not None else coro.send(None)
    except StopIteration:
        return None
    return asyncio.get_running_loop().create_task(_Resumed(coro, pending), context=context)


class _Resumed(collections.abc.Coroutine):  # type: ignore[type-arg]
    """A coroutine that already ran up to a suspension, as a coroutine a task can drive: its
    first step hands over what the coroutine waits on; every later step (a resumption, a
    cancellation, even one before that first step) goes straight to the coroutine."""

    def __init__(self, coro: Coroutine[Any, Any, Any], pending: Any) -> None:
        self._coro = coro
        self._pending = pending
        self._started = False
        self.__qualname__ = getattr(coro, "__qualname__", type(coro).__name__)

    def send(self, value: Any) -> Any:
        if not self._started:
            self._started = True
            pending, self._pending = self._pending, None
            return pending
        return self._coro.send(value)

    def throw(self, *args: Any) -> Any:
        self._started = True
        self._pending = None
        return self._coro.throw(*args)

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> Generator[Any, Any, Any]:
        sent: Any = None
        error: BaseException | None = None
        while True:
            try:
                waiting_on = self.throw(error) if error is not None else self.send(sent)
            except StopIteration as stop:
                return stop.value
            sent, error = None, None
            try:
                sent = yield waiting_on
            except GeneratorExit:
                self.close()
                raise
            except BaseException as exc:
                error = exc
