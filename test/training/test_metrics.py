"""The evaluation metric on hand-made cases: perfect, swapped, absent, extra and missed points, counting."""

from __future__ import annotations

import numpy as np
import pytest

from training.evaluate import score_count, score_points


def _square_mask(x0: int, y0: int, size: int = 10, shape: tuple[int, int] = (100, 100)) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[y0 : y0 + size, x0 : x0 + size] = True
    return mask


MASKS = [_square_mask(10, 10), _square_mask(60, 60)]
TARGETS = np.array([[14.0, 14.0], [64.0, 64.0]])


def test_perfect_points_score_one() -> None:
    score = score_points(np.array([[15.0, 15.0], [65.0, 65.0]]), TARGETS, MASKS)
    assert (score.precision, score.recall, score.f1, score.correct) == (1.0, 1.0, 1.0, 2)
    assert max(score.errors_px) < 1.0


def test_swapped_order_is_matched_one_to_one() -> None:
    # The answer lists the objects in the other order: Hungarian matching pairs them up anyway.
    score = score_points(np.array([[65.0, 65.0], [15.0, 15.0]]), TARGETS, MASKS)
    assert score.f1 == 1.0


def test_two_points_on_one_object_count_once() -> None:
    score = score_points(np.array([[15.0, 15.0], [16.0, 16.0]]), TARGETS, MASKS)
    # One-to-one: the second point is matched to the far object and lies outside its mask.
    assert score.correct == 1
    assert score.precision == pytest.approx(0.5)
    assert score.recall == pytest.approx(0.5)


def test_absent_object_empty_answer_is_right_and_a_point_is_wrong() -> None:
    empty = np.zeros((0, 2))
    assert score_points(empty, np.zeros((0, 2)), []).f1 == 1.0
    wrong = score_points(np.array([[50.0, 50.0]]), np.zeros((0, 2)), [])
    assert (wrong.precision, wrong.recall, wrong.f1) == (0.0, 0.0, 0.0)


def test_extra_and_missing_points() -> None:
    extra = score_points(np.array([[15.0, 15.0], [90.0, 5.0]]), TARGETS[:1], MASKS[:1])
    assert (extra.precision, extra.recall) == (0.5, 1.0)
    assert extra.f1 == pytest.approx(2 / 3)
    missed = score_points(np.array([[15.0, 15.0]]), TARGETS, MASKS)
    assert (missed.precision, missed.recall) == (1.0, 0.5)
    nothing = score_points(np.zeros((0, 2)), TARGETS, MASKS)
    assert nothing.f1 == 0.0


def test_point_next_to_the_object_is_wrong() -> None:
    # Nearest to the first object, but outside its mask (the mask ends at column 19).
    score = score_points(np.array([[21.0, 15.0]]), TARGETS[:1], MASKS[:1])
    assert score.correct == 0
    assert score.errors_px[0] == pytest.approx(np.hypot(20.5 - 14.0, 14.5 - 14.0))


def test_counting() -> None:
    assert score_count(2, 2, 2)
    assert score_count(None, 3, 3)
    assert not score_count(3, 2, 2)  # the stated total wins over the number of points
    assert score_count(None, 0, 0)  # "There are none." about an absent kind
    assert not score_count(None, 1, 0)
