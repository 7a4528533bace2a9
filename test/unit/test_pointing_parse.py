"""Unit tests of molmo_ros.pointing.parse on the strings Molmo v1 and Molmo2 really emit."""

from __future__ import annotations

import numpy as np
import pytest

from molmo_ros.pointing import PixelPoint, PointAnswer, parse_points

W, H = 640, 480


def xy(answer: PointAnswer) -> list[tuple[float, float]]:
    return [(p.x, p.y) for p in answer.points]


# ---------------------------------------------------------------------------------------------------------
# Molmo v1: percent coordinates.


def test_v1_single_point() -> None:
    answer = parse_points('<point x="61.5" y="40.4" alt="red cup">red cup</point>', W, H)
    assert answer.points == (PixelPoint(pytest.approx(393.6), pytest.approx(193.92), "red cup", 1),)
    assert not answer.absent
    assert answer.found
    assert answer.count == 1
    assert answer.stated_count is None


def test_v1_several_points_counting_sentence() -> None:
    text = (
        'Counting the <points x1="9.1" y1="11.7" x2="17.2" y2="41.3" alt="boats">boats</points> '
        "shows a total of 2."
    )
    answer = parse_points(text, W, H)
    assert xy(answer) == [
        (pytest.approx(0.091 * W), pytest.approx(0.117 * H)),
        (pytest.approx(0.172 * W), pytest.approx(0.413 * H)),
    ]
    assert [p.object_id for p in answer.points] == [1, 2]
    assert answer.labels == ("boats",)
    assert answer.stated_count == 2
    assert answer.count == 2
    assert answer.text == text


def test_v1_indices_sorted_numerically() -> None:
    # x10 must come after x2, not between x1 and x2 as a string sort would put it.
    attrs = " ".join(f'x{i}="{i}.0" y{i}="{i}.5"' for i in (10, 2, 1))
    answer = parse_points(f'<points {attrs} alt="dots">dots</points>', 1000, 1000)
    assert [p.object_id for p in answer.points] == [1, 2, 10]
    assert answer.points[2].x == pytest.approx(100.0)


def test_v1_several_tags_in_one_answer() -> None:
    text = (
        'The <point x="10.0" y="20.0" alt="red cup">red cup</point> is left of the '
        '<point x="80.0" y="20.0" alt="blue bowl">blue bowl</point>.'
    )
    answer = parse_points(text, W, H)
    assert [p.label for p in answer.points] == ["red cup", "blue bowl"]
    assert xy(answer) == [
        (pytest.approx(64.0), pytest.approx(96.0)),
        (pytest.approx(512.0), pytest.approx(96.0)),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "<point y='40.4' alt='red cup' x='61.5'>red cup</point>",  # single quotes, other order
        '<point\n  alt="red cup"\n  x = "61.5"\n  y= "40.4" >red cup</point >',  # newlines, spaces
        '<POINT X="61.5" Y="40.4" ALT="red cup">red cup</POINT>',  # upper case
        '<point x="61.5" y="40.4">red cup</point>',  # no alt: the inner text
        '<point x="61.5" y="40.4">\n  red   cup \n</point>',  # inner text whitespace collapsed
        '<point x="61.5" y="40.4" alt="red cup"/>',  # self-closing
        '<point x="61.5" y="40.4" alt="red cup" />',
        '<point x=61.5 y=40.4 alt="red cup">red cup</point>',  # unquoted numbers
        '<point x=" 61.5 " y="40.40" alt="red cup">red cup</point>',
        '<point x="61.5" y="40.4" alt="red cup">',  # never closed: alt still labels it
    ],
)
def test_v1_syntax_variants(text: str) -> None:
    (point,) = parse_points(text, W, H).points
    assert (point.x, point.y) == (pytest.approx(393.6), pytest.approx(193.92))
    assert point.label == "red cup"


def test_label_falls_back_to_empty() -> None:
    (point,) = parse_points('<point x="50" y="50"></point>', W, H).points
    assert point.label == ""
    (point,) = parse_points('<point x="50" y="50"/>', W, H).points
    assert point.label == ""


def test_alt_with_entities_and_angle_bracket() -> None:
    (point,) = parse_points('<point x="50" y="50" alt="Tom &amp; Jerry > mug">mug</point>', W, H).points
    assert point.label == "Tom & Jerry > mug"


def test_alt_with_escaped_less_than() -> None:
    (point,) = parse_points("<point x='50' y='50' alt='a &lt; b'>a &lt; b</point>", W, H).points
    assert point.label == "a < b"


def test_alt_preferred_over_inner_text() -> None:
    (point,) = parse_points('<point x="50" y="50" alt="cup">the cup on the left</point>', W, H).points
    assert point.label == "cup"


# ---------------------------------------------------------------------------------------------------------
# Molmo2: 0-1000 integer coordinates.


def test_molmo2_two_objects() -> None:
    answer = parse_points('<points alt="boats" coords="1 1 073 160 2 173 600">boats</points>', W, H)
    assert answer.points == (
        PixelPoint(pytest.approx(0.073 * W), pytest.approx(0.160 * H), "boats", 1),
        PixelPoint(pytest.approx(0.173 * W), pytest.approx(0.600 * H), "boats", 2),
    )


def test_molmo2_counting_many_objects() -> None:
    text = (
        'Counting the <points alt="apples" coords="1 1 100 200 2 300 400 3 500 600 4 700 800 5 900 950">'
        "apples</points> shows a total of 5."
    )
    answer = parse_points(text, 1000, 1000)
    assert [p.object_id for p in answer.points] == [1, 2, 3, 4, 5]
    assert xy(answer)[-1] == (pytest.approx(900.0), pytest.approx(950.0))
    assert answer.stated_count == 5


@pytest.mark.parametrize(
    "coords",
    [
        "1 1 100 200; 1 2 300 400",
        "1 1 100 200;1 2 300 400;",  # no space, trailing separator
        "1 1 100 200\t1 2 300 400",  # tab-separated groups
        "1 1 100 200 2 300 400",
        " 1  1 100 200 \n 2 300 400 ",
    ],
)
def test_molmo2_group_separators(coords: str) -> None:
    answer = parse_points(f'<points coords="{coords}" alt="cups">cups</points>', 1000, 500)
    assert xy(answer) == [(100.0, 100.0), (300.0, 200.0)]
    assert [p.object_id for p in answer.points] == [1, 2]


def test_molmo2_four_digit_full_scale_is_the_far_edge() -> None:
    (point,) = parse_points('<point coords="1 1 1000 1000" alt="corner">corner</point>', W, H).points
    assert (point.x, point.y) == (W, H)
    assert point.index(W, H) == (W - 1, H - 1)


def test_molmo2_zero_is_the_near_edge() -> None:
    (point,) = parse_points('<points coords="1 1 000 000">corner</points>', W, H).points
    assert (point.x, point.y, point.label) == (0.0, 0.0, "corner")
    assert point.index(W, H) == (0, 0)


def test_molmo2_point_tag_single_quotes_self_closing() -> None:
    (point,) = parse_points("<point coords='1 1 500 250' alt='mug'/>", 200, 100).points
    assert (point.x, point.y, point.label, point.object_id) == (100.0, 25.0, "mug", 1)


def test_molmo2_and_v1_tags_mixed_in_one_answer() -> None:
    text = '<point x="50" y="50" alt="a">a</point> and <points coords="1 1 250 750" alt="b">b</points>'
    answer = parse_points(text, 100, 100)
    assert xy(answer) == [(50.0, 50.0), (25.0, 75.0)]
    assert answer.labels == ("a", "b")


def test_v1_full_percent_is_the_far_edge() -> None:
    (point,) = parse_points('<point x="100" y="100.0" alt="c">c</point>', W, H).points
    assert (point.x, point.y) == (W, H)


def test_pixel_index_floor() -> None:
    assert PixelPoint(10.99, 0.5, "p").index(W, H) == (10, 0)


def test_numpy_sizes_accepted() -> None:
    answer = parse_points('<point x="50" y="50">c</point>', np.int64(200), np.int32(100))
    assert xy(answer) == [(100.0, 50.0)]


def test_xy_array() -> None:
    answer = parse_points('<points coords="1 1 500 500 2 250 750">c</points>', 100, 100)
    np.testing.assert_allclose(answer.xy(), [[50.0, 50.0], [25.0, 75.0]])
    assert parse_points("There are none.", 10, 10).xy().shape == (0, 2)


# ---------------------------------------------------------------------------------------------------------
# Absent, captions, counts.


@pytest.mark.parametrize(
    "text",
    [
        "There are none.",
        "there are none",
        "  There are none!\n",
        "THERE ARE NONE.",
        "This isn't in the image.",
        "This isn\u2019t in the image.",
        "This is not in the image",
        "It is not in the image.",
        "They aren't visible.",
        "There are no red cups.",
        "There is no red cup in the image.",
        "There aren't any cups.",
        "None.",
        "No red cups.",
        "I don't see any red cup.",
        "No, there are none.",
        "Sorry, this isn't in the image.",
        "Counting the cups shows a total of 0.",
    ],
)
def test_absent_answers(text: str) -> None:
    answer = parse_points(text, W, H)
    assert answer.absent
    assert answer.points == ()
    assert answer.count == 0
    assert not answer.found


@pytest.mark.parametrize(
    "text",
    [
        "A red cup stands on a wooden table.",  # a caption
        "The table has no cups on it.",  # "no" but not at the start
        "No, wait.",  # "No," is not "No <object>"
        "Nonetheless it is red.",
        "",
    ],
)
def test_answers_without_points_that_are_not_absent(text: str) -> None:
    answer = parse_points(text, W, H)
    assert not answer.absent
    assert answer.points == ()
    assert answer.count == 0


def test_absent_sentence_with_a_point_is_not_absent() -> None:
    text = (
        'There are no blue cups, but here is the red one: <point x="50" y="50" alt="red cup">red cup</point>'
    )
    answer = parse_points(text, W, H)
    assert not answer.absent
    assert len(answer.points) == 1


def test_absent_sentence_followed_by_a_molmo2_point_is_not_absent() -> None:
    answer = parse_points('There are none. <points coords="1 1 500 500">cup</points>', W, H)
    assert not answer.absent
    assert answer.found


@pytest.mark.parametrize(
    ("text", "stated"),
    [
        ("Counting the cups shows a total of three.", 3),
        ("There are 4 cups.", 4),
        ("Counting the <points coords='1 1 100 100'>cups</points> shows a total of 12.", 12),
        ("A total   of\n7 boats", 7),
    ],
)
def test_stated_count(text: str, stated: int) -> None:
    answer = parse_points(text, W, H)
    assert answer.stated_count == stated
    assert answer.count == stated


def test_tag_attributes_are_not_taken_for_a_stated_count() -> None:
    # Only the sentence counts: the tag's inner text is part of it, its attributes are not.
    answer = parse_points("<points coords='1 1 100 100 2 200 200' alt='total of 9'>cups</points>", W, H)
    assert answer.stated_count is None
    answer = parse_points("There are <points coords='1 1 100 100'>cups</points>.", W, H)
    assert answer.stated_count is None
    answer = parse_points("Counting the <points coords='1 1 100 100'/> shows a total of 1.", W, H)
    assert answer.stated_count == 1
