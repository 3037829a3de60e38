"""A periodic task stops when asked, even when its action loses the cancellation."""

from __future__ import annotations

import asyncio

from app.core.periodic import Periodic


async def test_stop_ends_the_loop_even_if_the_action_swallows_the_cancellation() -> None:
    # On Python 3.11 a cancellation that meets a timeout inside the action (a Redis read
    # timing out under load) comes out as the timeout, which the action handles: the loop
    # ran on and the API's shutdown waited for it forever (a fixture teardown hung 300 s).
    entered = asyncio.Event()
    runs = 0

    async def action() -> None:
        nonlocal runs
        runs += 1
        entered.set()
        try:
            await asyncio.sleep(0.2)
        except asyncio.CancelledError:
            return  # what the timeout's handling amounts to

    periodic = Periodic(0.01, action)
    periodic.start()
    await asyncio.wait_for(entered.wait(), timeout=5)
    async with asyncio.timeout(10):
        await periodic.stop()
    assert periodic._task is not None and periodic._task.done()
    settled = runs
    await asyncio.sleep(0.1)
    assert runs == settled, "nothing runs after stop()"
