"""Unit tests of molmo_ros.pointing.parse on the strings Molmo v1 and Molmo2 really emit."""

from __future__ import annotations

import time

import numpy as np
import pytest

try:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    HAVE_HYPOTHESIS = True
except ModuleNotFoundError:  # a development extra: the example-based tests below must run without it
    HAVE_HYPOTHESIS = False

from molmo_ros.errors import (
    ErrorCode,
    InvalidRequestError,
    MolmoRosError,
    PointOutsideImageError,
    PointParseError,
)
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


# ---------------------------------------------------------------------------------------------------------
# Bad input: the exception type, its error code and a piece of the reason.

BAD_INPUTS = [
    # (id, text, width, height, exception, fragment of the reason)
    (
        "x over 100 %",
        '<point x="120.5" y="3" alt="cup">cup</point>',
        W,
        H,
        PointOutsideImageError,
        "x='120.5'",
    ),
    ("negative y", '<point x="12" y="-0.1">cup</point>', W, H, PointOutsideImageError, "between 0 and 100"),
    ("coords over 1000", '<points coords="1 1 1001 500">c</points>', W, H, PointOutsideImageError, "'1001'"),
    ("negative coords", '<points coords="1 1 500 -20">c</points>', W, H, PointOutsideImageError, "0-1000"),
    (
        "x not a number",
        '<point x="abc" y="40.4">cup</point>',
        W,
        H,
        PointParseError,
        "x='abc' is not a number",
    ),
    ("two decimal points", '<point x="12.3.4" y="40.4">c</point>', W, H, PointParseError, "'12.3.4'"),
    ("nan", '<point x="nan" y="40.4">c</point>', W, H, PointParseError, "is not a number"),
    ("empty value", '<point x="" y="40.4">c</point>', W, H, PointParseError, "x='' is not a number"),
    ("x2 without y2", '<points x1="1" y1="2" x2="3" alt="b">b</points>', W, H, PointParseError, "x2"),
    ("mismatched idx", '<points x1="1" y1="2" x2="3" y3="4">b</points>', W, H, PointParseError, "y3"),
    ("mixed x and x1", '<points x="1" y="2" x1="3" y1="4">b</points>', W, H, PointParseError, "unnumbered"),
    ("no coordinates", '<point alt="cup">cup</point>', W, H, PointParseError, "has no coordinates"),
    ("bare tag", "<point>cup</point>", W, H, PointParseError, "'<point>cup</point>'"),
    (
        "odd coords",
        '<points coords="1 1 100 200 2 300">b</points>',
        W,
        H,
        PointParseError,
        "5 values after T",
    ),
    ("only T", '<points coords="1">b</points>', W, H, PointParseError, "0 values after T"),
    ("empty coords", '<points coords="" alt="b">b</points>', W, H, PointParseError, "empty coords"),
    ("frame 2", '<points coords="1 1 100 200;2 1 300 400">b</points>', W, H, PointParseError, "T='2'"),
    ("video time", '<points coords="0.5 1 100 200">b</points>', W, H, PointParseError, "T='0.5'"),
    ("decimal X", '<points coords="1 1 100.5 200">b</points>', W, H, PointParseError, "X '100.5' is not an"),
    ("object ID 0", '<points coords="1 0 100 200">b</points>', W, H, PointParseError, "object ID '0'"),
    (
        "both styles",
        '<point x="1" y="2" coords="1 1 100 100">c</point>',
        W,
        H,
        PointParseError,
        "both coords",
    ),
    ("tracks", '<tracks coords="1 1 100 100">c</tracks>', W, H, PointParseError, "<tracks> is a video"),
    ("cut off", 'Here: <point x="61.5" y="4', W, H, PointParseError, "unterminated or malformed"),
    ("unclosed quote", '<point x="10 y="20">cup</point>', W, H, PointParseError, "unclosed quote"),
    ("duplicate attr", '<point x="1" x="2" y="3">c</point>', W, H, PointParseError, "'x' appears twice"),
    ("broken attr", '<point x="1" y="2" alt>c</point>', W, H, PointParseError, "near 'alt'"),
    ("zero width", '<point x="1" y="2">c</point>', 0, H, InvalidRequestError, "width must be a positive"),
    ("negative height", "There are none.", W, -5, InvalidRequestError, "height must be a positive"),
    ("float width", "There are none.", 640.0, H, InvalidRequestError, "got 640.0"),
    ("bool height", "There are none.", W, True, InvalidRequestError, "got True"),
    ("not text", None, W, H, InvalidRequestError, "must be text"),
]


@pytest.mark.parametrize(
    ("text", "width", "height", "error", "fragment"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input(text: str, width: int, height: int, error: type[MolmoRosError], fragment: str) -> None:
    with pytest.raises(error) as info:
        parse_points(text, width, height)
    # Exactly this class: PointOutsideImageError is a PointParseError, but carries another code.
    assert type(info.value) is error
    assert fragment in str(info.value)
    assert info.value.code == error.code


def test_error_codes() -> None:
    with pytest.raises(PointOutsideImageError) as info:
        parse_points('<point x="101" y="1">c</point>', W, H)
    assert info.value.code == ErrorCode.POINT_OUTSIDE_IMAGE
    with pytest.raises(PointParseError) as info:
        parse_points('<point x="a" y="1">c</point>', W, H)
    assert info.value.code == ErrorCode.PARSE_ERROR


def test_error_quotes_the_offending_tag_and_shortens_long_ones() -> None:
    long_alt = "very " * 100 + "long"
    with pytest.raises(PointParseError) as info:
        parse_points(f'<point x="1" y="oops" alt="{long_alt}">c</point>', W, H)
    message = str(info.value)
    assert "y='oops'" in message
    assert '<point x="1" y="oops"' in message
    assert "..." in message
    assert len(message) < 300


@pytest.mark.parametrize(
    "text",
    ['<point x="' * 20_000, '<point alt="' + "<point " * 20_000, "<points " + "a" * 200_000],
    ids=["unclosed quotes", "nested starts", "long junk"],
)
def test_broken_answers_fail_fast(text: str) -> None:
    # A degenerate generation (repeating a tag start until max tokens) must not stall the node.
    start = time.perf_counter()
    with pytest.raises(PointParseError, match="unterminated or malformed"):
        parse_points(text, W, H)
    assert time.perf_counter() - start < 2.0


def test_no_clamping_just_outside_the_edge() -> None:
    with pytest.raises(PointOutsideImageError):
        parse_points('<point x="100.1" y="50">c</point>', W, H)
    with pytest.raises(PointOutsideImageError):
        parse_points('<point coords="1 1 500 1001">c</point>', W, H)


# ---------------------------------------------------------------------------------------------------------
# Properties: render random points in each format, parse them back within the format's rounding.

if not HAVE_HYPOTHESIS:

    def test_properties_need_hypothesis() -> None:
        pytest.skip("hypothesis is not installed: the property tests did not run")

else:
    sizes = st.integers(min_value=1, max_value=4096)
    labels = st.text(alphabet=st.characters(categories=["L", "N"]) | st.just(" "), max_size=20)
    fractions = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)

    @settings(max_examples=200, deadline=None)
    @given(
        width=sizes,
        height=sizes,
        fracs=st.lists(st.tuples(fractions, fractions), min_size=1, max_size=8),
        label=labels,
        quote=st.sampled_from(['"', "'"]),
    )
    def test_property_v1_round_trip(
        width: int, height: int, fracs: list[tuple[float, float]], label: str, quote: str
    ) -> None:
        q = quote
        if len(fracs) == 1:
            fx, fy = fracs[0]
            text = f"<point x={q}{fx * 100:.1f}{q} y={q}{fy * 100:.1f}{q} alt={q}{label}{q}>{label}</point>"
        else:
            attrs = " ".join(
                f"x{i}={q}{fx * 100:.1f}{q} y{i}={q}{fy * 100:.1f}{q}" for i, (fx, fy) in enumerate(fracs, 1)
            )
            tag = f"<points {attrs} alt={q}{label}{q}>{label}</points>"
            text = f"Counting the {tag} shows a total of {len(fracs)}."
        answer = parse_points(text, width, height)
        assert len(answer.points) == len(fracs)
        for point, (fx, fy) in zip(answer.points, fracs, strict=True):
            # One decimal of a percent: at most 0.05 % of the size off, plus float noise.
            assert abs(point.x - fx * width) <= 0.0005 * width + 1e-9
            assert abs(point.y - fy * height) <= 0.0005 * height + 1e-9
            assert 0.0 <= point.x <= width
            assert 0.0 <= point.y <= height
            assert point.label == " ".join(label.split())
        assert not answer.absent
        if len(fracs) > 1:
            assert answer.stated_count == len(fracs)

    @settings(max_examples=200, deadline=None)
    @given(
        width=sizes,
        height=sizes,
        groups=st.lists(
            st.lists(st.tuples(fractions, fractions), min_size=1, max_size=5), min_size=1, max_size=3
        ),
        separator=st.sampled_from([";", "; ", "\t"]),
        digits=st.sampled_from([3, 4]),
    )
    def test_property_molmo2_round_trip(
        width: int, height: int, groups: list[list[tuple[float, float]]], separator: str, digits: int
    ) -> None:
        rendered = []
        expected = []
        object_id = 0
        for group in groups:
            triples = []
            for fx, fy in group:
                object_id += 1
                triples.append(f"{object_id} {round(fx * 1000):0{digits}d} {round(fy * 1000):0{digits}d}")
                expected.append((object_id, fx, fy))
            rendered.append("1 " + " ".join(triples))
        text = f'<points alt="things" coords="{separator.join(rendered)}">things</points>'
        answer = parse_points(text, width, height)
        assert [p.object_id for p in answer.points] == [e[0] for e in expected]
        for point, (_, fx, fy) in zip(answer.points, expected, strict=True):
            # Integer thousandths: at most half a thousandth of the size off.
            assert abs(point.x - fx * width) <= 0.0005 * width + 1e-9
            assert abs(point.y - fy * height) <= 0.0005 * height + 1e-9
            assert 0.0 <= point.x <= width
            assert 0.0 <= point.y <= height

    @settings(max_examples=300, deadline=None)
    @given(text=st.text(max_size=200), width=sizes, height=sizes)
    def test_property_arbitrary_text_never_crashes(text: str, width: int, height: int) -> None:
        # Any text either parses or fails with the library's own parse error, never another exception.
        try:
            answer = parse_points(text, width, height)
        except PointParseError:
            return
        for point in answer.points:
            assert 0.0 <= point.x <= width
            assert 0.0 <= point.y <= height

    @settings(max_examples=200, deadline=None)
    @given(
        prefix=st.text(alphabet=st.characters(exclude_characters="<"), max_size=40),
        suffix=st.text(alphabet=st.characters(exclude_characters="<"), max_size=40),
        fx=fractions,
        fy=fractions,
    )
    def test_property_surrounding_text_does_not_matter(
        prefix: str, suffix: str, fx: float, fy: float
    ) -> None:
        tag = f'<points coords="1 1 {round(fx * 1000):03d} {round(fy * 1000):03d}" alt="cup">cup</points>'
        alone = parse_points(tag, W, H)
        embedded = parse_points(prefix + tag + suffix, W, H)
        assert embedded.points == alone.points
        assert not embedded.absent
