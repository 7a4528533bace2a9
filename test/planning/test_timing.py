"""TOPP-RA timing of joint paths: within the limits, at rest where segments meet, through the path's ends."""

from __future__ import annotations

import numpy as np
import pytest

from molmo_ros.planning.timing import parameterize_segment, time_parameterize

NAMES = ("a", "b")
VEL = np.array([1.0, 0.5])
ACC = np.array([2.0, 2.0])


def test_one_segment_is_timed_within_the_limits_and_ends_at_rest():
    path = np.array([[0.0, 0.0], [0.5, 0.1], [1.0, 0.2]])
    trajectory, spans = time_parameterize(NAMES, [path], VEL, ACC, rate_hz=50.0)
    assert trajectory.joint_names == NAMES
    np.testing.assert_allclose(trajectory.positions[0], path[0])
    np.testing.assert_allclose(trajectory.positions[-1], path[-1])
    assert np.all(np.diff(trajectory.times) > 0)
    assert np.all(np.abs(trajectory.velocities) <= VEL * 1.01 + 1e-9)
    np.testing.assert_allclose(trajectory.velocities[[0, -1]], 0.0)
    # Joint a moves 1 rad at most 1 rad/s, accelerating at 2 rad/s^2: at least 1.5 s, and TOPP-RA is near optimal.
    assert 1.5 - 1e-3 <= trajectory.duration < 1.8
    assert spans == [(0.0, pytest.approx(trajectory.duration))]
    # Sampled at the rate: steps of at most 1/50 s.
    assert np.max(np.diff(trajectory.times)) <= 0.02 + 1e-9


def test_segments_follow_each_other_and_stop_where_they_meet():
    first = np.array([[0.0, 0.0], [0.4, 0.0]])
    second = np.array([[0.4, 0.0], [0.4, 0.3]])
    trajectory, spans = time_parameterize(NAMES, [first, second], VEL, ACC, rate_hz=100.0)
    (s0, e0), (s1, e1) = spans
    assert s0 == 0.0 and e0 == pytest.approx(s1) and e1 == pytest.approx(trajectory.duration)
    at_meeting = int(np.argmin(np.abs(trajectory.times - e0)))
    np.testing.assert_allclose(trajectory.positions[at_meeting], [0.4, 0.0], atol=1e-6)
    np.testing.assert_allclose(trajectory.velocities[at_meeting], 0.0, atol=1e-9)
    # Joint b only moves in the second segment, joint a only in the first.
    assert np.all(np.abs(trajectory.positions[trajectory.times <= e0, 1]) < 1e-9)
    assert np.all(np.abs(trajectory.positions[trajectory.times >= s1, 0] - 0.4) < 1e-9)


def test_a_path_already_at_its_goal_holds_one_point():
    still = np.array([[0.3, 0.2], [0.3, 0.2]])
    assert parameterize_segment(still, VEL, ACC) is None
    trajectory, spans = time_parameterize(NAMES, [still], VEL, ACC, rate_hz=20.0)
    assert trajectory.times.tolist() == [0.0] and trajectory.velocities is None
    np.testing.assert_allclose(trajectory.positions, [[0.3, 0.2]])
    assert spans == [(0.0, 0.0)]


def test_tighter_limits_take_longer():
    path = np.array([[0.0, 0.0], [1.0, 0.4]])
    fast, _ = time_parameterize(NAMES, [path], VEL, ACC, rate_hz=50.0)
    slow, _ = time_parameterize(NAMES, [path], VEL / 2, ACC / 2, rate_hz=50.0)
    # Joint a: 1 rad; trapezoids of 0.5 s ramps + cruise: 1.5 s at (1 rad/s, 2 rad/s^2), 2.5 s at half both.
    assert fast.duration == pytest.approx(1.5, abs=0.02)
    assert slow.duration == pytest.approx(2.5, abs=0.03)
