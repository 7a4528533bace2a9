"""The request gate: one request runs, a bounded queue waits, the rest are refused BUSY at once."""

import threading

import pytest

from molmo_ros.errors import ErrorCode, MolmoRosError
from molmo_ros.pointing.request_gate import RequestGate
from support.waiting import wait_for


def test_one_runs_queue_waits_and_the_rest_are_refused_at_once():
    gate = RequestGate(max_waiting=1)
    release = threading.Event()
    running = threading.Event()
    order: list[str] = []

    def holder(name: str) -> None:
        with gate.enter():
            order.append(name)
            running.set()
            release.wait(5)

    first = threading.Thread(target=holder, args=("first",))
    first.start()
    assert running.wait(5)
    second = threading.Thread(target=holder, args=("second",))
    second.start()
    wait_for(lambda: gate.admitted == 2, 5.0, "the second request to queue")
    with pytest.raises(MolmoRosError) as info, gate.enter():
        pass
    assert info.value.code == ErrorCode.BUSY and "queue size 1" in info.value.message
    release.set()
    first.join(5)
    second.join(5)
    assert order == ["first", "second"]
    assert gate.admitted == 0


def test_the_slot_is_freed_when_the_body_raises():
    gate = RequestGate(max_waiting=0)
    with pytest.raises(RuntimeError), gate.enter():
        raise RuntimeError("model failed")
    with gate.enter():
        assert gate.admitted == 1
