"""Fixtures of the training tests: the processor of a tiny model with coordinate tokens."""

from __future__ import annotations

import pytest

from support.tiny_processor import coordinate_processor


@pytest.fixture(scope="module")
def coord_processor(tmp_path_factory):  # type: ignore[no-untyped-def]
    """A tiny model with coordinate tokens and the question-first template."""
    return coordinate_processor(tmp_path_factory.mktemp("coord_model"))
