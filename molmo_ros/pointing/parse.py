"""Turn a Molmo answer (text) into pixel points on one image.

Formats read (the README's "Pointing formats"):

* Molmo v1, percent of width / height (0-100, usually one decimal)::

      <point x="61.5" y="40.4" alt="red cup">red cup</point>
      <points x1="9.1" y1="11.7" x2="17.2" y2="41.3" alt="boats">boats</points>

* Molmo2, integers on a 0-1000 scale, groups ``T ID X Y [ID X Y ...]`` separated by ``;`` or a tab::

      <points alt="boats" coords="1 1 073 160 2 173 600">boats</points>

  ``T`` is the image (1-based) or, for video, the time in seconds. This module reads answers about *one*
  image, so every group must have ``T == 1``. ``<tracks>`` (video tracking) is rejected for the same reason.

Both tag names (``point`` / ``points``) accept both attribute styles. Attribute order, quote style, case of
names, extra whitespace and newlines, self-closing tags and a missing ``alt`` are tolerated.

Pixel convention: continuous coordinates, ``x`` along columns and ``y`` along rows, the image covering
``[0, width] x [0, height]``; ``pixel = percent / 100 * width`` or ``value / 1000 * width`` with no half-pixel
shift, exactly the models' own conversion. Both ends are inside the image: 100 % (or 1000) maps to
``x == width``, the far edge of the last column (use :meth:`PixelPoint.index` for an array index). Anything
outside that range is rejected with :class:`~molmo_ros.errors.PointOutsideImageError`, never clamped.
"""

from __future__ import annotations

import html
import operator
import re
from dataclasses import dataclass

from molmo_ros.errors import InvalidRequestError, PointOutsideImageError, PointParseError
from molmo_ros.pointing.points import PixelPoint, PointAnswer

__all__ = ["PixelPoint", "PointAnswer", "parse_points"]

# Scale of each format: the value that means "the full width (or height)".
_PERCENT_SCALE = 100.0
_MOLMO2_SCALE = 1000.0

# Longest piece of model text quoted in an error message (characters).
_EXCERPT_CHARS = 160


# ----------------------------------------------------------------------------------------------------------
# Lexing: tags and attributes.

# An opening tag. Quoted attribute values may hold '>' (an alt text could), so they are matched as units.
# Nothing in a tag may hold '<': that keeps each match attempt within one tag, so a broken answer full of
# "<point" starts costs linear, not quadratic, time (models write '<' in an attribute as "&lt;").
_OPEN_TAG = re.compile(
    r"""<(?P<name>points?|tracks)(?=[\s/>])(?P<attrs>(?:[^<>"']|"[^"<]*"|'[^'<]*')*)>""",
    re.IGNORECASE,
)
# Any start of a tag we own, used to find ones that never close ("<point x=" cut off by max tokens).
_TAG_START = re.compile(r"<(?:points?|tracks)(?=[\s/>]|$)", re.IGNORECASE)
_ATTR = re.compile(
    r"""(?P<key>[A-Za-z_][\w.:-]*)\s*=\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^\s"'=<>`/]+))"""
)
_INNER_MARKUP = re.compile(r"<[^>]*>")

# Number grammars. Strict on purpose: float() would also take "nan", "inf", "1e3" and "1_0".
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_INTEGER = re.compile(r"[+-]?\d+")
# Molmo v1 attribute names: "x", "y", or indexed "x1", "y12".
_XY_KEY = re.compile(r"(?P<axis>[xy])(?P<index>\d*)")
# Separators of Molmo2 coordinate groups.
_GROUP_SEP = re.compile(r"[;\t]")


@dataclass(frozen=True)
class _Tag:
    """One point tag as found in the text."""

    name: str  # lower case: point, points or tracks
    attrs: dict[str, str]  # attribute names lower case, values unescaped
    inner: str  # text between the opening and closing tag ("" if self-closing or unclosed)
    source: str  # the tag as written, for error messages
    start: int
    end: int  # end of the closing tag (or of the opening tag if there is none)


def _excerpt(fragment: str) -> str:
    """``fragment`` quoted for an error message, shortened to :data:`_EXCERPT_CHARS`."""
    if len(fragment) > _EXCERPT_CHARS:
        fragment = fragment[: _EXCERPT_CHARS - 3] + "..."
    return repr(fragment)


def _parse_attrs(raw: str, source: str) -> dict[str, str]:
    """Attributes of an opening tag (``raw`` is the text between the name and ``>``)."""
    attrs: dict[str, str] = {}
    leftover = []
    pos = 0
    for m in _ATTR.finditer(raw):
        leftover.append(raw[pos : m.start()])
        pos = m.end()
        key = m["key"].lower()
        value = next(v for v in (m["dq"], m["sq"], m["bare"]) if v is not None)
        if key in attrs:
            raise PointParseError(f"attribute {key!r} appears twice in {_excerpt(source)}")
        attrs[key] = html.unescape(value)
    leftover.append(raw[pos:])
    # Only whitespace and the '/' of a self-closing tag may remain; anything else is a broken attribute
    # that would otherwise be dropped silently.
    junk = "".join(leftover).replace("/", " ").strip()
    if junk:
        raise PointParseError(f"cannot read the attributes near {junk!r} in {_excerpt(source)}")
    return attrs


def _find_tags(text: str) -> list[_Tag]:
    """Every point / points / tracks tag in ``text``, in order, with its inner text."""
    opens = list(_OPEN_TAG.finditer(text))
    open_starts = {m.start() for m in opens}
    for m in _TAG_START.finditer(text):
        if m.start() not in open_starts:
            raise PointParseError(
                f"unterminated or malformed point tag (unclosed quote or missing '>'): "
                f"{_excerpt(text[m.start() :])}"
            )

    tags = []
    for i, m in enumerate(opens):
        name = m["name"].lower()
        raw_attrs = m["attrs"]
        inner = ""
        end = m.end()
        if not raw_attrs.rstrip().endswith("/"):
            # The inner text runs to the closing tag, which must come before the next opening tag; a tag
            # that never closes keeps an empty inner text (its alt still gives the label).
            limit = opens[i + 1].start() if i + 1 < len(opens) else len(text)
            close = re.compile(rf"</{name}\s*>", re.IGNORECASE).search(text, m.end(), limit)
            if close is not None:
                inner = text[m.end() : close.start()]
                end = close.end()
        source = text[m.start() : end]
        tags.append(_Tag(name, _parse_attrs(raw_attrs, source), inner, source, m.start(), end))
    return tags


def _label(tag: _Tag) -> str:
    """The tag's ``alt``, else its inner text without markup, else ``""`` (whitespace collapsed)."""
    for candidate in (tag.attrs.get("alt", ""), html.unescape(_INNER_MARKUP.sub(" ", tag.inner))):
        label = " ".join(candidate.split())
        if label:
            return label
    return ""


# ----------------------------------------------------------------------------------------------------------
# Numbers and ranges.


def _to_pixels(value: float, raw: str, scale: float, size: int, axis: str, tag: _Tag) -> float:
    """``value`` on a 0..``scale`` axis as pixels along an axis of ``size`` pixels; rejects the outside."""
    if not 0.0 <= value <= scale:
        what = "percent" if scale == _PERCENT_SCALE else "on the 0-1000 scale"
        raise PointOutsideImageError(
            f"point {axis}={raw!r} ({what}) is outside the image: it must be between 0 and {scale:g}, "
            f"in {_excerpt(tag.source)}"
        )
    return value / scale * size


def _decimal(raw: str, key: str, tag: _Tag) -> float:
    """A Molmo v1 coordinate (percent, a plain decimal number)."""
    s = raw.strip()
    if not _DECIMAL.fullmatch(s):
        raise PointParseError(f"{key}={raw!r} is not a number, in {_excerpt(tag.source)}")
    return float(s)


def _integer(raw: str, what: str, tag: _Tag) -> int:
    """A whole number from Molmo2 coordinates; ``what`` names it in the error message."""
    if not _INTEGER.fullmatch(raw):
        raise PointParseError(f"{what} {raw!r} is not an integer, in {_excerpt(tag.source)}")
    return int(raw)


# ----------------------------------------------------------------------------------------------------------
# Coordinates of one tag.


def _xy_points(tag: _Tag, width: int, height: int) -> list[PixelPoint]:
    """Molmo v1 attributes: ``x``/``y``, or ``x1``/``y1`` ... ``xN``/``yN`` (percent)."""
    axes: dict[str, dict[str, str]] = {"x": {}, "y": {}}
    for key, value in tag.attrs.items():
        m = _XY_KEY.fullmatch(key)
        if m:
            axes[m["axis"]][m["index"]] = value
    xs, ys = axes["x"], axes["y"]
    if set(xs) != set(ys):
        unmatched = sorted(f"x{i}" for i in set(xs) - set(ys)) + sorted(f"y{i}" for i in set(ys) - set(xs))
        raise PointParseError(
            f"coordinates without a partner ({', '.join(unmatched)}): x and y attributes must come in "
            f"pairs with the same index, in {_excerpt(tag.source)}"
        )
    if "" in xs and len(xs) > 1:
        raise PointParseError(f"mixes unnumbered x/y with numbered x1/y1 ..., in {_excerpt(tag.source)}")

    label = _label(tag)
    points = []
    for index in sorted(xs, key=lambda i: int(i) if i else 1):
        kx, ky = f"x{index}", f"y{index}"
        x = _to_pixels(_decimal(xs[index], kx, tag), xs[index], _PERCENT_SCALE, width, kx, tag)
        y = _to_pixels(_decimal(ys[index], ky, tag), ys[index], _PERCENT_SCALE, height, ky, tag)
        points.append(PixelPoint(x, y, label, int(index) if index else 1))
    return points


def _coords_points(tag: _Tag, width: int, height: int) -> list[PixelPoint]:
    """Molmo2 ``coords``: groups ``T ID X Y [ID X Y ...]`` (0-1000) separated by ``;`` or a tab."""
    groups = [g.split() for g in _GROUP_SEP.split(tag.attrs["coords"])]
    groups = [g for g in groups if g]  # a trailing ';' is harmless
    if not groups:
        raise PointParseError(f"empty coords attribute in {_excerpt(tag.source)}")

    label = _label(tag)
    points = []
    for tokens in groups:
        group = " ".join(tokens)
        frame = tokens[0]
        # One image: T must be the first (only) image. Another T means another image or a video time.
        if not _INTEGER.fullmatch(frame) or int(frame) != 1:
            raise PointParseError(
                f"coordinate group {group!r} is for image/frame T={frame!r}, but a single-image answer "
                f"must use T=1, in {_excerpt(tag.source)}"
            )
        values = tokens[1:]
        if not values or len(values) % 3:
            raise PointParseError(
                f"coordinate group {group!r} has {len(values)} values after T; expected triples "
                f"'ID X Y', in {_excerpt(tag.source)}"
            )
        for i in range(0, len(values), 3):
            raw_id, raw_x, raw_y = values[i : i + 3]
            object_id = _integer(raw_id, "object ID", tag)
            if object_id < 1:
                raise PointParseError(
                    f"object ID {raw_id!r} must be 1 or more (IDs count from 1), in {_excerpt(tag.source)}"
                )
            x = _to_pixels(_integer(raw_x, "X", tag), raw_x, _MOLMO2_SCALE, width, "X", tag)
            y = _to_pixels(_integer(raw_y, "Y", tag), raw_y, _MOLMO2_SCALE, height, "Y", tag)
            points.append(PixelPoint(x, y, label, object_id))
    return points


def _tag_points(tag: _Tag, width: int, height: int) -> list[PixelPoint]:
    """The points of one tag, whichever attribute style it uses."""
    if tag.name == "tracks":
        # A track follows objects through video frames; the robot asks about one image.
        raise PointParseError(
            f"<tracks> is a video answer and cannot be read for a single image: {_excerpt(tag.source)}"
        )
    has_coords = "coords" in tag.attrs
    has_xy = any(_XY_KEY.fullmatch(k) for k in tag.attrs)
    if has_coords and has_xy:
        raise PointParseError(f"tag has both coords and x/y attributes: {_excerpt(tag.source)}")
    if has_coords:
        return _coords_points(tag, width, height)
    if has_xy:
        return _xy_points(tag, width, height)
    raise PointParseError(f"point tag has no coordinates (no x/y and no coords): {_excerpt(tag.source)}")


# ----------------------------------------------------------------------------------------------------------
# Sentences around the tags.

# "Not there" answers, matched at the start of the answer (lower case, straight apostrophes, whitespace
# collapsed). Anchored so that a caption mentioning "no ..." halfway through is not taken as absent.
_ABSENT = re.compile(
    r"""^(?:(?:no|sorry|unfortunately)\s*,\s*)?  # No, there are none. / Sorry, this isn't in the image.
    (?:
        there\s+(?:are|is)\s+(?:none|no|not\s+any|nothing)\b        # There are none. / There is no red cup.
      | there\s+(?:aren't|isn't)\s+any\b                          # There aren't any cups.
      | (?:this|it|that|they|these|those)\s+(?:is|are)(?:n't|\s+not)\s+(?:in|present|visible|shown|there)\b
      | (?:none|nothing)\b                                        # None. / Nothing found.
      | no\b(?!,)                                                 # No red cups. (but not "No, ...")
      | i\s+(?:do\s+not|don't|cannot|can't|can\s+not)\s+see\b     # I don't see any cup.
    )""",
    re.VERBOSE,
)

_NUMBER_WORDS = {
    word: n
    for n, word in enumerate(
        # One string reads better than a column of 21 quoted words.
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "  # noqa: SIM905
        "sixteen seventeen eighteen nineteen twenty".split()
    )
}
_NUMBER = r"(\d+|" + "|".join(_NUMBER_WORDS) + r")"
# "Counting the boats shows a total of 2." (Molmo's counting answer) and "There are 3 cups."
_STATED_COUNT = (
    re.compile(r"\btotal\s+of\s+" + _NUMBER + r"\b"),
    re.compile(r"^there\s+(?:are|is)\s+" + _NUMBER + r"\b"),
)


def _normalise(text: str) -> str:
    """Lower case, straight apostrophes, single spaces: the form the sentence patterns expect."""
    return " ".join(text.replace("\u2019", "'").replace("\u2018", "'").lower().split())


def _without_tags(text: str, tags: list[_Tag]) -> str:
    """``text`` with each tag replaced by its inner text (else its label), as the model's sentence reads."""
    parts = []
    pos = 0
    for tag in tags:
        parts.append(text[pos : tag.start])
        parts.append(_INNER_MARKUP.sub(" ", tag.inner) or _label(tag))
        pos = tag.end
    parts.append(text[pos:])
    return "".join(parts)


def _stated_count(sentence: str) -> int | None:
    """The total a (normalised, tag-free) answer states, if it states one."""
    for pattern in _STATED_COUNT:
        m = pattern.search(sentence)
        if m:
            word = m.group(1)
            return int(word) if word.isdigit() else _NUMBER_WORDS[word]
    return None


# ----------------------------------------------------------------------------------------------------------


def _image_size(value: object, name: str) -> int:
    """A width or height: a positive integer (numpy integers accepted, bool and float not)."""
    if isinstance(value, bool):
        raise InvalidRequestError(f"image {name} must be a positive integer, got {value!r}")
    try:
        size = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidRequestError(f"image {name} must be a positive integer, got {value!r}") from None
    if size <= 0:
        raise InvalidRequestError(f"image {name} must be a positive integer, got {size}")
    return size


def parse_points(text: str, width: int, height: int) -> PointAnswer:
    """Read the points of a Molmo answer about one ``width`` x ``height`` image (pixels).

    Args:
        text: the model's answer, in any Molmo v1 or Molmo2 single-image format (see the module docstring).
        width: image width in pixels (> 0).
        height: image height in pixels (> 0).

    Returns:
        A :class:`PointAnswer`: the points in pixels in text order, whether the model said the object is
        absent, and the total it states when it counts.

    Raises:
        InvalidRequestError: ``width`` or ``height`` is not a positive integer, or ``text`` is not a string.
        PointOutsideImageError: a coordinate is below 0 or above the full scale (100 %, 1000).
        PointParseError: a point tag cannot be read (bad number, unpaired x/y, odd coords count, wrong
            frame, no coordinates, unterminated tag, ``<tracks>``). The message quotes the fragment.
    """
    if not isinstance(text, str):
        raise InvalidRequestError(f"model answer must be text, got {type(text).__name__}")
    width = _image_size(width, "width")
    height = _image_size(height, "height")

    tags = _find_tags(text)
    points = tuple(p for tag in tags for p in _tag_points(tag, width, height))
    sentence = _normalise(_without_tags(text, tags))
    stated = _stated_count(sentence)
    # Only an answer without points can be "not there": text such as "There are no blue cups, but
    # <point ...>" still points. A counting answer stating a total of 0 says the same as "There are none."
    absent = not points and (bool(_ABSENT.match(sentence)) or stated == 0)
    return PointAnswer(points=points, absent=absent, text=text, stated_count=stated)
