"""Count the tasks alive in the running event loop, on asyncio and on trio (leak checks)."""

from __future__ import annotations

import sniffio


def count_tasks() -> int:
    library = sniffio.current_async_library()
    if library == "asyncio":
        import asyncio

        return len(asyncio.all_tasks())
    import trio

    def walk(task: trio.lowlevel.Task) -> int:
        return 1 + sum(
            walk(child) for nursery in task.child_nurseries for child in nursery.child_tasks
        )

    return walk(trio.lowlevel.current_root_task())


async def assert_no_task_left(before: int, *, within: float = 2.0) -> None:
    """No task outlives what it belonged to. Tasks that other tests left to finish on the
    shared loop may still be winding down, so give the count a moment to settle; a leaked
    task (a producer nobody cancelled) never would."""
    import anyio

    with anyio.move_on_after(within):
        while count_tasks() > before:  # noqa: ASYNC110 - polling a count, no event to wait on
            await anyio.sleep(0.01)
    assert count_tasks() <= before, f"{count_tasks() - before} task(s) left behind"
