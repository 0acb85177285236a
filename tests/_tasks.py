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
