"""Query -> object label matching of the ground-truth point source."""

from molmo_ros.planning.targets import match_labels

LABELS = ["red cup", "blue cup", "red mug", "green ball"]


def test_a_query_names_the_object_whose_words_it_contains():
    assert match_labels("the red cup", LABELS) == [0]
    assert match_labels("Point to the green ball.", LABELS) == [3]


def test_absent_objects_match_nothing():
    assert match_labels("the purple elephant", LABELS) == []
    assert match_labels("the red ball", LABELS) == []
