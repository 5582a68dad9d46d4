"""Independent pieces of work spread over worker processes, their results in the order of the work.

A search whose points are scored independently (the CRF's c1 x c2 grid, the combination's weights) runs
one point per core instead of one after another. Workers are started with `spawn`: a fresh interpreter,
not a fork of a parent that may hold threads (torch's, a tokenizer's), which can deadlock a forked child.
The read-only input every point needs (`shared`: documents, probability arrays) is sent once to each
worker when it starts, not once per point; the function is sent by name, so it must be a module-level
function, and its results must be picklable. The order of the results is that of the items whatever
the order the workers finish in, so a search keeps choosing the first of equals as it would serially.
A worker started with `spawn` runs the top level of the caller's script again (as `__mp_main__`): a
script that starts a search at its top level must do so under `if __name__ == "__main__":`, as the
CLI's `python -m pipeline` does.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

Shared = TypeVar("Shared")
Item = TypeVar("Item")
Result = TypeVar("Result")

SHARED: Any = None  # in a worker process: the `shared` of the `map_in_order` that started it


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity where the system reports one (a container or
    `taskset` may allow fewer than the machine has), else the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def worker_count(setting: int, items: int) -> int:
    """How many processes `items` independent pieces of work get under a `workers` setting (0: one per usable
    core): never more than the usable cores or the items, never fewer than one."""
    if setting < 0:
        raise ValueError(f"workers must be 0 (one per usable core) or more, not {setting}")
    cores = usable_cores()
    return max(1, min(setting or cores, cores, items))


def receive(shared: Any) -> None:
    """A worker's start: keep the shared input for every item it is given."""
    global SHARED
    SHARED = shared


def apply_shared(function: Callable[[Any, Any], Any], item: Any) -> Any:
    return function(SHARED, item)


def map_in_order(
    function: Callable[[Shared, Item], Result], items: Sequence[Item], workers: int, shared: Shared
) -> list[Result]:
    """`[function(shared, item) for item in items]`, computed in `workers` processes (at most one per item;
    with one, here in this process, without starting any). An exception raised by `function` in a worker
    is raised here."""
    processes = min(workers, len(items))
    if processes <= 1:
        return [function(shared, item) for item in items]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=context, initializer=receive, initargs=(shared,)) as pool:
        return list(pool.map(apply_shared, [function] * len(items), items))
