"""molmo_ros.sim.pacing: the bridge's real-time pacing and publication ticks, without ROS or MuJoCo."""

from __future__ import annotations

import pytest

from molmo_ros.sim.pacing import MAX_CHUNK, PublicationSchedule, RealTimePacer, next_tick


def test_pacing_follows_wall_time_times_the_factor_in_chunks() -> None:
    pacer = RealTimePacer()
    assert pacer.goal(100.0, 5.0, 1.0) == 5.0  # the first call anchors: nothing to step yet
    assert pacer.goal(100.02, 5.0, 1.0) == pytest.approx(5.02)
    assert pacer.goal(100.03, 5.02, 1.0) == pytest.approx(5.03)
    # 0.2 s of wall time behind (under the lag limit): caught up at most one chunk a call
    assert pacer.goal(100.23, 5.03, 1.0) == pytest.approx(5.03 + MAX_CHUNK)


def test_a_new_factor_or_a_long_stall_re_anchors_instead_of_racing() -> None:
    pacer = RealTimePacer()
    pacer.goal(0.0, 0.0, 1.0)
    assert pacer.goal(0.01, 0.0, 2.0) == 0.0  # the factor changed: a new anchor
    assert pacer.goal(0.02, 0.0, 2.0) == pytest.approx(0.02)  # twice wall time from there
    assert pacer.goal(1.02, 0.02, 2.0) == pytest.approx(0.02)  # 2 s behind after a stall: re-anchored
    assert pacer.goal(1.03, 0.02, 2.0) == pytest.approx(0.04)
    pacer.reset()
    assert pacer.goal(5.0, 9.0, 2.0) == 9.0  # a new scene starts afresh


def test_factor_zero_steps_a_chunk_a_call_whatever_the_wall_clock() -> None:
    pacer = RealTimePacer()
    assert pacer.goal(0.0, 1.0, 0.0) == pytest.approx(1.0 + MAX_CHUNK)
    assert pacer.goal(0.0, 2.0, 0.0) == pytest.approx(2.0 + MAX_CHUNK)
    assert pacer.goal(0.0, 2.0, 1.0) == 2.0  # back to real time: anchored anew


def test_ticks_skip_what_was_missed_and_read_the_rate_only_when_due() -> None:
    assert next_tick(1.0, 1.01, 10.0) == pytest.approx(1.1)
    assert next_tick(1.0, 1.35, 10.0) == pytest.approx(1.45)  # three ticks missed: none replayed
    schedule, reads = PublicationSchedule(), []

    def rate() -> float:
        reads.append(1)
        return 10.0

    assert schedule.camera_due(0.0, rate) and schedule.next_camera == pytest.approx(0.1)
    assert not schedule.camera_due(0.05, rate) and len(reads) == 1  # not due: the rate is not read
    assert schedule.camera_due(0.1, rate) and schedule.next_camera == pytest.approx(0.2)
    assert schedule.joint_state_due(0.1, lambda: 50.0) and schedule.next_joint_state == pytest.approx(0.12)
    assert not schedule.joint_state_due(0.11, lambda: 50.0)
    schedule.restart(7.0)
    assert schedule.camera_due(7.0, rate) and schedule.joint_state_due(7.0, lambda: 50.0)
