"""Independent work in worker processes: results in the order of the items, really in as many processes as
asked, inline with one worker, and never more workers than usable cores or items."""

from __future__ import annotations

import multiprocessing
import os

import pytest

from pipeline.config import CombineConfig, CRFConfig
from pipeline.core import parallel
from pipeline.core.errors import ConfigError
from pipeline.core.parallel import map_in_order, usable_cores, worker_count


def square_after_meeting(shared: tuple[int, object], item: int) -> tuple[int, int]:
    """Waits until another worker waits too (the barrier breaks after a minute alone), then answers with
    its process id."""
    offset, barrier = shared
    barrier.wait(timeout=60)  # type: ignore[attr-defined]
    return offset + item * item, os.getpid()


def refuse_three(shared: None, item: int) -> int:
    if item == 3:
        raise ValueError(f"item {item} refused")
    return item


def test_two_workers_answer_in_the_order_of_the_items_from_two_other_processes():
    barrier = multiprocessing.get_context("spawn").Barrier(2)
    found = map_in_order(square_after_meeting, [5, 1, 4, 2, 3, 0], 2, (100, barrier))
    assert [value for value, _ in found] == [125, 101, 116, 104, 109, 100]
    processes = {pid for _, pid in found}
    assert len(processes) == 2 and os.getpid() not in processes


def test_one_worker_runs_here_without_starting_a_process():
    found = map_in_order(lambda shared, item: (shared + item, os.getpid()), [3, 1, 2], 1, 10)  # a lambda: no pickling
    assert found == [(13, os.getpid()), (11, os.getpid()), (12, os.getpid())]
    assert map_in_order(refuse_three, [], 2, None) == []


def test_an_error_in_a_worker_is_raised_in_the_caller():
    with pytest.raises(ValueError, match="item 3 refused"):
        map_in_order(refuse_three, [1, 2, 3, 4], 2, None)


def test_the_worker_count_is_bounded_by_the_usable_cores_and_the_items(monkeypatch):
    assert 1 <= usable_cores() <= (os.cpu_count() or 1)
    monkeypatch.setattr(parallel, "usable_cores", lambda: 4)
    assert [worker_count(0, 10), worker_count(0, 3), worker_count(2, 10), worker_count(9, 10)] == [4, 3, 2, 4]
    assert [worker_count(1, 10), worker_count(0, 1), worker_count(3, 0)] == [1, 1, 1]
    monkeypatch.setattr(parallel, "usable_cores", lambda: 1)
    assert worker_count(0, 6) == worker_count(2, 6) == 1


def test_a_negative_worker_setting_is_refused_by_its_flag():
    for config in (CRFConfig, CombineConfig):
        with pytest.raises(ConfigError, match=r"--workers -1 is out of range: allowed >= 0"):
            config(workers=-1)
