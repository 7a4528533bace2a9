"""molmo_ros.pointing.parse on bad input (a code and a reason for each), and properties over random points."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from molmo_ros.errors import (
    ErrorCode,
    InvalidRequestError,
    MolmoRosError,
    PointOutsideImageError,
    PointParseError,
)
from molmo_ros.pointing import PointAnswer, parse_points

W, H = 640, 480


def xy(answer: PointAnswer) -> list[tuple[float, float]]:
    return [(p.x, p.y) for p in answer.points]


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
def test_property_surrounding_text_does_not_matter(prefix: str, suffix: str, fx: float, fy: float) -> None:
    tag = f'<points coords="1 1 {round(fx * 1000):03d} {round(fy * 1000):03d}" alt="cup">cup</points>'
    alone = parse_points(tag, W, H)
    embedded = parse_points(prefix + tag + suffix, W, H)
    assert embedded.points == alone.points
    assert not embedded.absent
