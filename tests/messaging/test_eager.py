"""run_eagerly: the first step at once, a task only for a coroutine that has to wait."""

import asyncio
import contextvars

import pytest

from gateway.eager import run_eagerly

marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="none")


async def test_a_coroutine_that_never_waits_runs_to_the_end_without_a_task():
    done = []

    async def work():
        done.append(marker.get())

    assert run_eagerly(work()) is None
    assert done == ["none"]


async def test_a_coroutine_that_waits_goes_on_in_a_task_and_returns_its_result():
    steps = []
    gate = asyncio.get_running_loop().create_future()

    async def work():
        steps.append("before")
        value = await gate
        steps.append(value)
        await asyncio.sleep(0)  # a bare yield is passed through as well
        return value * 2

    task = run_eagerly(work())
    assert steps == ["before"]  # ran up to the wait, in the caller's stack
    assert isinstance(task, asyncio.Task)
    gate.set_result(21)
    assert await task == 42
    assert steps == ["before", 21]


async def test_an_exception_before_the_first_wait_is_raised_to_the_caller():
    async def work():
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run_eagerly(work())


async def test_an_exception_after_a_wait_ends_the_task_with_it():
    gate = asyncio.get_running_loop().create_future()

    async def work():
        await gate

    task = run_eagerly(work())
    gate.set_exception(KeyError("late"))
    with pytest.raises(KeyError):
        await task


async def test_cancelling_the_task_reaches_the_coroutine_and_its_cleanup():
    cleaned = []

    async def work():
        try:
            await asyncio.sleep(3600)
        finally:
            cleaned.append(True)

    task = run_eagerly(work())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == [True]


async def test_it_runs_in_the_given_context_before_and_after_the_wait():
    seen = []
    gate = asyncio.get_running_loop().create_future()
    context = contextvars.copy_context()
    context.run(marker.set, "socket")

    async def work():
        seen.append(marker.get())
        await gate
        seen.append(marker.get())

    task = run_eagerly(work(), context=context)
    gate.set_result(None)
    await task
    assert seen == ["socket", "socket"]
    assert marker.get() == "none"


async def test_a_waiting_coroutine_can_also_be_awaited_directly_through_its_task():
    async def work():
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return "done"

    task = run_eagerly(work())
    assert await asyncio.wait_for(task, timeout=10) == "done"
