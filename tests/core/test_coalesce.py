"""Shared loads: callers asking at once share one load, and nobody gets an answer that was
read before they asked."""

from __future__ import annotations

import asyncio

import pytest

from app.core.coalesce import Coalescer


class CountingLoad:
    """A load that waits for the test's go, numbering each run."""

    def __init__(self) -> None:
        self.runs = 0
        self.started = asyncio.Event()
        self.go = asyncio.Event()

    async def __call__(self) -> int:
        self.runs += 1
        run = self.runs
        self.started.set()
        await self.go.wait()
        return run


async def test_callers_asking_at_the_same_time_share_one_load() -> None:
    coalescer, load = Coalescer(), CountingLoad()
    callers = [asyncio.create_task(coalescer.load("job", load)) for _ in range(1000)]
    await load.started.wait()
    load.go.set()

    assert await asyncio.gather(*callers) == [1] * 1000
    assert load.runs == 1
    assert coalescer.pending() == 0, "nothing is kept once the load is done"


async def test_a_caller_asking_while_a_load_runs_gets_the_next_one() -> None:
    coalescer, load = Coalescer(), CountingLoad()
    early = asyncio.create_task(coalescer.load("job", load))
    await load.started.wait()  # the first load has read (or is reading) the row
    late = [asyncio.create_task(coalescer.load("job", load)) for _ in range(3)]
    await asyncio.sleep(0)
    assert load.runs == 1, "the next load waits for the running one"
    load.go.set()

    assert await early == 1
    assert await asyncio.gather(*late) == [2, 2, 2], "one more load for all who came late"
    other = await coalescer.load("another job", load)
    assert other == 3, "keys never share"


async def test_an_error_reaches_every_caller_and_the_next_ask_loads_again() -> None:
    coalescer = Coalescer()
    attempts = 0

    async def failing() -> int:
        nonlocal attempts
        attempts += 1
        await asyncio.sleep(0)
        raise ConnectionError("database unavailable")

    callers = [asyncio.create_task(coalescer.load("job", failing)) for _ in range(5)]
    results = await asyncio.gather(*callers, return_exceptions=True)

    assert all(isinstance(result, ConnectionError) for result in results)
    assert attempts == 1
    with pytest.raises(ConnectionError):
        await coalescer.load("job", failing)
    assert attempts == 2


async def test_a_caller_that_leaves_does_not_cancel_the_others_load() -> None:
    coalescer, load = Coalescer(), CountingLoad()
    leaving = asyncio.create_task(coalescer.load("job", load))
    staying = asyncio.create_task(coalescer.load("job", load))
    await load.started.wait()
    leaving.cancel()
    load.go.set()

    assert await staying == 1
    assert leaving.cancelled()


async def test_a_caller_that_accepts_an_older_answer_gets_the_last_one_without_a_load() -> None:
    coalescer, load = Coalescer(), CountingLoad()
    load.go.set()
    assert await coalescer.load("job", load, fresh_within=60) == 1
    assert await coalescer.load("job", load, fresh_within=60) == 1, "kept, no second load"
    assert await coalescer.load("job", load) == 2, "a caller that wants it current gets a load"
    assert load.runs == 2
