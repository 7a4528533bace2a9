"""Prompts in the Molmo models' own conventions, and validation of user queries.

The models were trained on prompts such as ``"Point to the red cup."`` and ``"Count the cups."``, with
``"Please say 'There are none.' if it is not in the image."`` asking for an explicit "not there" answer
(which :func:`molmo_ros.pointing.parse_points` reads as ``absent``). A user query is usually just the object
("the red cup"); these builders wrap it, and leave full instructions ("Point to ...", "How many ...") alone.
"""

from __future__ import annotations

import re
import unicodedata

from molmo_ros.errors import InvalidRequestError

__all__ = ["ABSENT_INSTRUCTION", "count_prompt", "point_prompt", "validate_query"]

ABSENT_INSTRUCTION = "Please say 'There are none.' if it is not in the image."

# Unicode categories refused in a query: control characters (newline and tab included: a query is one
# line, and a newline would let it smuggle in a second instruction), line / paragraph separators, and
# surrogates (not text).
_REFUSED_CATEGORIES = {"Cc", "Zl", "Zp", "Cs"}

# Already an instruction of the wanted kind: kept as written.
_POINT_INSTRUCTION = re.compile(r"point\s+(?:to|at|out)\b", re.IGNORECASE)
_COUNT_INSTRUCTION = re.compile(r"(?:count\b|how\s+many\b)", re.IGNORECASE)
# Request phrasings that carry no meaning beyond "point to"; dropped before the object is wrapped.
_REQUEST_PREFIX = re.compile(
    r"^(?:please\s+)?(?:find|locate|show\s+me|where\s+(?:is|are)|where's|pick\s+up|grab)\s+",
    re.IGNORECASE,
)
# Words that already determine the noun phrase, so no "the" is added ("all the cups", "a cup", "my cup").
_DETERMINERS = frozenset(
    "the a an all every each any some both this that these those my your his her its our their".split()  # noqa: SIM905
)


def validate_query(query: str, max_chars: int = 200) -> str:
    """Check a user's query and return it without surrounding whitespace.

    Args:
        query: what to point at or count, e.g. ``"the red cup"``.
        max_chars: the longest query accepted, in characters, counted after stripping.

    Raises:
        InvalidRequestError: not a string, empty or whitespace only, longer than ``max_chars``, or holding a
            control character (newline and tab included) after stripping.
    """
    if max_chars <= 0:
        raise ValueError(f"max_chars must be positive, got {max_chars}")
    if not isinstance(query, str):
        raise InvalidRequestError(f"query must be text, got {type(query).__name__}")
    stripped = query.strip()
    if not stripped:
        raise InvalidRequestError("query is empty (or only whitespace)")
    if len(stripped) > max_chars:
        raise InvalidRequestError(
            f"query is {len(stripped)} characters long; the limit is {max_chars}: {stripped[:40]!r}..."
        )
    for position, char in enumerate(stripped):
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise InvalidRequestError(
                f"query holds a control character U+{ord(char):04X} at position {position}: {stripped!r}"
            )
    return stripped


def _object_phrase(query: str) -> str:
    """The object named by ``query``, as a noun phrase with a determiner ("red cup" -> "the red cup")."""
    phrase = _REQUEST_PREFIX.sub("", query).rstrip(".?! ").strip()
    if not phrase:
        raise InvalidRequestError(f"query names no object: {query!r}")
    first, _, rest = phrase.partition(" ")
    if first.lower() in _DETERMINERS:
        if not rest:
            raise InvalidRequestError(f"query names no object: {query!r}")
        # "The red cup" inside a sentence reads "the red cup".
        return f"{first.lower()} {rest}"
    if first.lower().endswith(("'s", "\u2019s")) or first[0].isdigit():
        # Possessives and numbers determine the phrase already: "Anna's mug", "2 cups".
        return phrase
    return f"the {phrase}"


def point_prompt(query: str, allow_absent: bool = True) -> str:
    """The pointing prompt for ``query``: ``"Point to the red cup."`` plus (by default) the absent line.

    A query that already starts with "Point to" / "Point at" / "Point out" is kept as written; otherwise
    request words ("find", "where is", "pick up" ...) are dropped, "the" is added unless the phrase has a
    determiner, and the prompt ends with a full stop.

    Args:
        query: the object (``"the red cup"``, ``"red cup"``) or a full "Point to ..." instruction.
        allow_absent: append ``"Please say 'There are none.' if it is not in the image."`` on a new line, so
            that the model answers an absent object in words rather than pointing somewhere.

    Raises:
        InvalidRequestError: the query fails :func:`validate_query` or names no object.
    """
    query = validate_query(query)
    prompt = query if _POINT_INSTRUCTION.match(query) else f"Point to {_object_phrase(query)}."
    if allow_absent and "there are none" not in prompt.lower():
        prompt = f"{prompt}\n{ABSENT_INSTRUCTION}"
    return prompt


def count_prompt(query: str) -> str:
    """The counting prompt for ``query``: ``"Count the cups."``.

    A query that already starts with "Count" or "How many" is kept as written.

    Raises:
        InvalidRequestError: the query fails :func:`validate_query` or names no object.
    """
    query = validate_query(query)
    if _COUNT_INSTRUCTION.match(query):
        return query
    return f"Count {_object_phrase(query)}."
