"""Query -> object label matching of the ground-truth point source."""

from molmo_ros.planning.targets import match_labels

LABELS = ["red cup", "blue cup", "red mug", "green ball"]


def test_a_query_names_the_object_whose_words_it_contains():
    assert match_labels("the red cup", LABELS) == [0]
    assert match_labels("Point to the green ball.", LABELS) == [3]


def test_absent_objects_match_nothing():
    assert match_labels("the purple elephant", LABELS) == []
    assert match_labels("the red ball", LABELS) == []


COLOURS = ("red", "blue", "green", "purple")


def test_with_modifiers_a_bare_noun_names_every_object_of_its_kind():
    labels = ["red block", "blue block", "green bowl", "red cup"]
    assert match_labels("all the blocks", labels, COLOURS) == [0, 1]
    assert match_labels("the bowl", labels, COLOURS) == [2]
    # A colour still narrows the noun down, also to nothing.
    assert match_labels("the blue block", labels, COLOURS) == [1]
    assert match_labels("the purple block", labels, COLOURS) == []
    # Without modifiers a label's every word must be in the query.
    assert match_labels("all the blocks", labels) == []
