"""The auxiliary vision targets line up with the processor's patches and image tokens, the pointer / attention
targets sit on the coordinates of the pointed objects, the relevance and token-position targets name the asked-for
objects' tokens, and the coordinate loss scores neighbouring values as nearly right."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from support.tiny_processor import coordinate_processor, tiny_processor
from support.two_objects import two_object_answer, two_object_scene
from training.aux_targets import (
    aux_class_counts,
    object_patch_fractions,
    patch_positions,
    patch_targets,
    pointer_targets,
    relevance_targets,
    token_position_targets,
)
from training.batching import collate, digit_token_ids, encode_example
from training.coords import coordinate_token_ids, position_code, soft_coordinate_targets
from training.metrics import answer_loss


@pytest.fixture(scope="module")
def processor(tmp_path_factory):
    return tiny_processor(tmp_path_factory.mktemp("aux_model"), image_pooling=(2, 2))


def test_patch_targets_follow_the_masks(processor) -> None:
    _, mask, objects = two_object_scene()
    fractions = object_patch_fractions(processor.image_processor, Image.fromarray(mask), objects)
    assert set(fractions) == {1, 2}
    n = fractions[1].shape[0]
    colour, kind = patch_targets(n, fractions, objects)
    n_colour, n_kind = aux_class_counts()
    assert colour.shape == (n, n_colour) and kind.shape == (n, n_kind)
    assert torch.allclose(colour.sum(1), torch.ones(n)) and torch.allclose(kind.sum(1), torch.ones(n))
    # Background dominates; the red cup's patches come first in raster order, the blue ball's last.
    covered = (1 - colour[:, 0]).nonzero().flatten()
    assert 0 < len(covered) < n
    from molmo_ros.sim.catalogue import COLOURS

    red, blue = 1 + list(COLOURS).index("red"), 1 + list(COLOURS).index("blue")
    crop = fractions[1].shape[0] // 2  # the first crop is the whole picture
    assert colour[:crop, red].argmax() < colour[:crop, blue].argmax()


def test_patch_positions_follow_the_picture(processor) -> None:
    _, mask, objects = two_object_scene()
    xy = patch_positions(processor.image_processor, (160, 120))
    fractions = object_patch_fractions(processor.image_processor, Image.fromarray(mask), objects)
    assert xy.shape == (fractions[1].shape[0], 2)
    assert bool(((xy >= 0) & (xy <= 1)).all())
    # The red cup (top left, centre (30, 25) px) and the blue ball (bottom right, (130, 95) px): the patches
    # each covers most lie where the object is.
    for index, centre in ((1, (30 / 160, 25 / 120)), (2, (130 / 160, 95 / 120))):
        where = xy[fractions[index].argmax()]
        assert abs(float(where[0]) - centre[0]) < 0.2 and abs(float(where[1]) - centre[1]) < 0.2


def test_pointer_targets_sit_on_the_coordinate_digits(processor) -> None:
    image, mask, objects = two_object_scene()
    fractions = object_patch_fractions(processor.image_processor, Image.fromarray(mask), objects)
    answer = '<points alt="red cup" coords="1 1 188 208">red cup</points>'
    enc = encode_example(processor, image, [("Point to the red cup.", answer)], 512)
    digit_ids = set(digit_token_ids(processor.tokenizer))
    objects[0]["point"] = [29.5, 24.5]
    positions, targets, xy = pointer_targets(
        enc, [("point", answer)], fractions, objects, digit_ids, (160, 120)
    )
    # The (x, y) target only at the first digit: the later states can read the digits written before them.
    assert torch.allclose(xy[0], torch.tensor([29.5 / 160, 24.5 / 120]))
    assert bool(xy[1:].isnan().all())
    assert len(positions) == 6  # "188 208", not the leading "1 1"
    predicted = processor.tokenizer.convert_ids_to_tokens(enc.input_ids[positions + 1].tolist())
    assert "".join(predicted) == "188208"
    assert torch.allclose(targets.sum(1), torch.ones(6))
    n_tokens = int((enc.image_token_pooling >= 0).any(-1).sum())
    assert targets.shape[1] == n_tokens
    # Not for other styles.
    none, _, _ = pointer_targets(enc, [("count", answer)], fractions, objects, digit_ids)
    assert len(none) == 0
    enc.patch_colour, enc.patch_kind = patch_targets(
        enc.pixel_values.shape[0] * enc.pixel_values.shape[1], fractions, objects
    )
    enc.pointer_positions, enc.pointer_targets, enc.pointer_xy = positions, targets, xy
    batch = collate([enc, enc], int(processor.tokenizer.pad_token_id))
    assert batch["aux_ptr_rows"].tolist() == [0] * 6 + [1] * 6
    assert json.dumps(batch["aux_ptr_cols"].tolist())


def test_question_first_template_puts_the_picture_after_the_question(coord_processor) -> None:
    image, _, _ = two_object_scene()
    enc = encode_example(coord_processor, image, [("Point to the red cup.", "There are none.")], 512)
    ids = enc.input_ids.tolist()
    first_image = enc.mm_token_type_ids.tolist().index(1)
    question = coord_processor.tokenizer.decode(ids[:first_image])
    assert question.endswith("Point to the red cup.\n")
    answer_start = enc.labels.tolist().index(next(v for v in enc.labels.tolist() if v != -100))
    assert first_image < answer_start


def test_coordinate_tokens_are_one_token_per_value_and_decode_to_the_same_text(coord_processor) -> None:
    tok = coord_processor.tokenizer
    ids = coordinate_token_ids(tok)
    assert len(ids) == 1001 and len(set(ids)) == 1001
    text = '<points alt="cups" coords="1 1 073 160 2 1000 005">cups</points>'
    encoded = tok(text, add_special_tokens=False)["input_ids"]
    for value in ("073", "160", "1000", "005"):
        assert ids[int(value)] in encoded
    assert tok.decode(encoded) == text
    assert len(digit_token_ids(tok)) == 1001 + 10


@pytest.fixture(scope="module")
def answer_processor(tmp_path_factory):
    """As ``coord_processor``, with the answer's scaffolding as single tokens (``answer_tokens``)."""
    return coordinate_processor(tmp_path_factory.mktemp("answer_model"), answer_tokens=True)


def test_answer_tokens_write_the_same_answers_in_fewer_tokens(coord_processor, answer_processor) -> None:
    answers = (
        '<points alt="red cup" coords="1 1 396 555">red cup</points>',
        'Counting the <points alt="cups" coords="1 1 073 160 2 1000 005 10 500 000">cups</points> shows a total of 3.',
    )
    plain, short = coord_processor.tokenizer, answer_processor.tokenizer
    ids = coordinate_token_ids(short)
    assert len(ids) == 1001 and len(set(ids)) == 1001
    assert short.convert_ids_to_tokens([ids[73], ids[1000]]) == [" 073", " 1000"]
    for text in answers:
        encoded = short(text, add_special_tokens=False)["input_ids"]
        assert short.decode(encoded) == text
        # As the point node's backend decodes a generated answer (the end token is special and dropped).
        generated = [*encoded, short.convert_tokens_to_ids("<|im_end|>")]
        assert answer_processor.decode(generated, skip_special_tokens=True) == text
        assert len(encoded) < len(plain(text, add_special_tokens=False)["input_ids"]) - 8
    single = short(answers[0], add_special_tokens=False)["input_ids"]
    assert short.convert_ids_to_tokens(single)[3:9] == ['" coords="', "1", " 1", " 396", " 555", '">']
    assert len(single) == 12


def test_tag_tokens_shorten_only_the_tag_and_keep_the_coordinates_spelled_as_before(
    coord_processor, tmp_path_factory
) -> None:
    tagged = coordinate_processor(tmp_path_factory.mktemp("tag_model"), answer_tag_tokens=True)
    plain, short = coord_processor.tokenizer, tagged.tokenizer
    assert len(coordinate_token_ids(short)) == 1001
    text = '<points alt="red cup" coords="1 1 396 555 2 073 1000">red cup</points>'
    encoded = short(text, add_special_tokens=False)["input_ids"]
    assert short.decode(encoded) == text
    generated = [*encoded, short.convert_tokens_to_ids("<|im_end|>")]
    assert tagged.decode(generated, skip_special_tokens=True) == text
    tokens = short.convert_ids_to_tokens(encoded)
    assert tokens[0] == '<points alt="' and tokens[-1] == "</points>"
    # From the tag's '" coords="' to its '">': the same tokens as the coordinate tokenizer alone writes.
    body = tokens[tokens.index('" coords="') + 1 : tokens.index('">')]
    sp = "\u0120"  # the byte-level spelling of a space
    assert body == ["1", sp, "1", sp, "396", sp, "555", sp, "2", sp, "073", sp, "1000"]
    plain_tokens = plain.convert_ids_to_tokens(plain(text, add_special_tokens=False)["input_ids"])
    assert body == plain_tokens[plain_tokens.index("1") : plain_tokens.index("1") + len(body)]
    assert len(encoded) < len(plain_tokens)


def test_pointer_targets_with_answer_tokens_sit_on_the_spaced_coordinates(answer_processor) -> None:
    enc, answer, objects, fractions, coords = _two_object_example(answer_processor)
    positions, _, xy = pointer_targets(
        enc, [("point_all", answer)], fractions, objects, set(), (160, 120), coords
    )
    predicted = answer_processor.tokenizer.convert_ids_to_tokens(enc.input_ids[positions + 1].tolist())
    assert predicted == [" 188", " 208", " 813", " 792"]
    assert torch.allclose(xy[2], torch.tensor([129.5 / 160, 94.5 / 120]))


def _two_object_example(coord_processor) -> tuple:
    """The two-object point-all answer encoded: (encoded, answer, objects, fractions, coordinate ids)."""
    image, mask, _ = two_object_scene()
    answer, objects = two_object_answer()
    fractions = object_patch_fractions(coord_processor.image_processor, Image.fromarray(mask), objects)
    enc = encode_example(coord_processor, image, [("Point to all the objects.", answer)], 512)
    return enc, answer, objects, fractions, set(coordinate_token_ids(coord_processor.tokenizer))


def test_pointer_targets_with_coordinate_tokens_cover_every_group(coord_processor) -> None:
    enc, answer, objects, fractions, coords = _two_object_example(coord_processor)
    positions, targets, xy = pointer_targets(
        enc, [("point_all", answer)], fractions, objects, set(), (160, 120), coords
    )
    assert len(positions) == 4  # x and y of two groups
    predicted = coord_processor.tokenizer.convert_ids_to_tokens(enc.input_ids[positions + 1].tolist())
    assert predicted == ["188", "208", "813", "792"]
    # Group 1 -> the red cup's tokens, group 2 -> the blue ball's.
    red = fractions[1] > 0
    for row, index in ((0, 1), (2, 2)):
        assert torch.allclose(targets[row], targets[row + 1])
        best = int(targets[row].argmax())
        from training.aux_targets import pool_to_tokens

        assert float(pool_to_tokens(fractions[index], enc.image_token_pooling)[best]) > 0
    assert bool(red.any())
    assert torch.allclose(xy[2], torch.tensor([129.5 / 160, 94.5 / 120]))


def test_next_object_targets_guide_the_positions_that_decide_another_group(coord_processor) -> None:
    enc, answer, objects, fractions, coords = _two_object_example(coord_processor)
    args = (enc, [("point_all", answer)], fractions, objects, set(), (160, 120), coords)
    plain, plain_targets, _ = pointer_targets(*args)
    positions, targets, xy = pointer_targets(*args, next_object=True)
    # The 4 coordinate queries, the answer's first token and group 1's last coordinate.
    assert len(positions) == 6
    tok = coord_processor.tokenizer
    first = enc.labels.tolist().index(next(t for t in enc.labels.tolist() if t != -100))
    # Group 1: decided where the answer starts; group 2: decided at group 1's y coordinate ("208").
    assert int(positions[0]) == first - 1
    assert tok.convert_ids_to_tokens([int(enc.input_ids[positions[3]])]) == ["208"]
    assert torch.allclose(targets[0], plain_targets[0]) and torch.allclose(targets[3], plain_targets[2])
    assert not torch.allclose(targets[0], targets[3])
    # Only the first coordinate's query carries the point; the deciding queries do not.
    assert bool(xy[0].isnan().all()) and bool(xy[3].isnan().all()) and not bool(xy[1].isnan().any())
    # The last group decides nothing after it (the closing tag has no object), and an absent answer none.
    assert set(plain.tolist()) < set(positions.tolist())
    none, _, _ = pointer_targets(
        enc, [("absent", "There are none.")], fractions, objects, set(), (160, 120), coords, next_object=True
    )
    assert len(none) == 0


def test_relevance_targets_name_the_asked_for_objects(coord_processor) -> None:
    image, mask, _ = two_object_scene()
    answer, objects = two_object_answer()
    fractions = object_patch_fractions(coord_processor.image_processor, Image.fromarray(mask), objects)
    enc = encode_example(coord_processor, image, [("q", answer)], 512)
    pooling = enc.image_token_pooling
    from training.aux_targets import pool_to_tokens

    red = pool_to_tokens(fractions[1], pooling)
    blue = pool_to_tokens(fractions[2], pooling)
    one = relevance_targets("point", '<points alt="red cup" coords="1 1 188 208">red cup</points>', pooling,
                            fractions, objects, (160, 120))  # fmt: skip
    assert torch.allclose(one, red.clamp(max=1))
    both = relevance_targets("point_all", answer, pooling, fractions, objects, (160, 120))
    assert torch.allclose(both, (red + blue).clamp(max=1))
    absent = relevance_targets("absent", "There are none.", pooling, fractions, objects, (160, 120))
    assert absent.shape == red.shape and float(absent.sum()) == 0.0
    assert relevance_targets("qa_colour", "The cup is red.", pooling, fractions, objects, (160, 120)) is None


def test_order_targets_give_each_token_its_objects_point_group(coord_processor) -> None:
    from training.aux_targets import pool_to_tokens

    image, mask, _ = two_object_scene()
    answer, objects = two_object_answer()
    fractions = object_patch_fractions(coord_processor.image_processor, Image.fromarray(mask), objects)
    pooling = encode_example(coord_processor, image, [("q", answer)], 512).image_token_pooling
    red, blue = pool_to_tokens(fractions[1], pooling), pool_to_tokens(fractions[2], pooling)
    order = relevance_targets("point_all", answer, pooling, fractions, objects, (160, 120), 3)
    assert order.shape == (red.shape[0], 4) and torch.allclose(order.sum(1), torch.ones(red.shape[0]))
    # The red cup is group 1 (left), the blue ball group 2; uncovered tokens are class 0; class 3 stays empty.
    assert torch.allclose(order[:, 1], red) and torch.allclose(order[:, 2], blue)
    assert float(order[:, 3].sum()) == 0.0
    swapped = '<points alt="objects" coords="1 1 813 792 2 188 208">objects</points>'
    assert torch.allclose(
        relevance_targets("count", swapped, pooling, fractions, objects, (160, 120), 3)[:, 1], blue
    )
    # One rank only: every group shares it; an absent answer leaves every token in class 0.
    assert torch.allclose(
        relevance_targets("point_all", answer, pooling, fractions, objects, (160, 120), 1)[:, 1], red + blue
    )
    none = relevance_targets("absent", "There are none.", pooling, fractions, objects, (160, 120), 3)
    assert bool((none[:, 0] == 1).all())
    assert (
        relevance_targets("qa_colour", "The cup is red.", pooling, fractions, objects, (160, 120), 3) is None
    )


def test_token_position_targets_carry_the_objects_point(coord_processor) -> None:
    image, mask, _ = two_object_scene()
    _, objects = two_object_answer()
    fractions = object_patch_fractions(coord_processor.image_processor, Image.fromarray(mask), objects)
    enc = encode_example(coord_processor, image, [("q", "a")], 512)
    xy = patch_positions(coord_processor.image_processor, (160, 120))
    code, covered = token_position_targets(enc.image_token_pooling, xy, fractions, objects, (160, 120), 4)
    assert code.shape == (covered.shape[0], 2 * (1 + 2 * 4))
    from training.aux_targets import pool_to_tokens

    red = pool_to_tokens(fractions[1], enc.image_token_pooling)
    best = int(red.argmax())
    assert covered[best] == 1.0
    expected = torch.cat(
        [position_code(torch.tensor(29.5 / 160), 4), position_code(torch.tensor(24.5 / 120), 4)]
    )
    assert torch.allclose(code[best], expected, atol=1e-5)
    empty = int(((red == 0) & (pool_to_tokens(fractions[2], enc.image_token_pooling) == 0)).nonzero()[0])
    own = pool_to_tokens(xy, enc.image_token_pooling)[empty]
    assert covered[empty] == 0.0 and abs(float(code[empty, 0]) - float(own[0])) < 1e-5


def test_soft_coordinate_loss_prefers_near_misses() -> None:
    ids = torch.arange(10, 1011)
    soft = soft_coordinate_targets(5.0)
    assert torch.allclose(soft.sum(1), torch.ones(1001)) and int(soft[500].argmax()) == 500
    labels = torch.tensor([[-100, int(ids[500])]])

    def loss_for(value: int) -> float:
        logits = torch.zeros((1, 2, 1100))
        logits[0, 0, int(ids[value])] = 8.0
        return float(answer_loss(logits, labels, ids, soft))

    assert loss_for(500) < loss_for(503) < loss_for(510) < loss_for(900)
    # Without soft targets only the exact value counts.
    plain = answer_loss(torch.zeros((1, 2, 1100)), labels)
    assert abs(float(plain) - float(np.log(1100))) < 1e-4


def test_decision_weight_scales_only_the_tokens_that_decide_the_number_of_points() -> None:
    ids = torch.arange(10, 1011)  # coordinate tokens; 5 = " ", 6 = '">', 7 = an answer's first token
    labels = torch.tensor([[-100, 7, int(ids[300]), 5, int(ids[400]), 6]])
    logits = torch.zeros((1, 6, 1100))
    base = answer_loss(logits, labels, ids, soft_coordinate_targets(5.0), decision_weight=1.0)
    heavy = answer_loss(logits, labels, ids, soft_coordinate_targets(5.0), decision_weight=3.0)
    # Five labelled tokens of equal loss log(1100) on uniform logits (the soft targets' too); three decide
    # (the first token and the one after each coordinate): (2 + 3 * 3) / 5 of the plain mean.
    assert abs(float(heavy) / float(base) - 11 / 5) < 1e-4


def test_object_kind_targets_and_loss_pool_each_objects_own_patches() -> None:
    from molmo_ros.sim.catalogue import KINDS
    from training.aux_heads import AuxHeads
    from training.aux_targets import object_targets

    objects = [
        {"index": 1, "kind": "mug", "colour": "red"},
        {"index": 2, "kind": "cup", "colour": "red"},
        {"index": 3, "kind": "ball", "colour": "red"},  # covers no patch: no row
    ]
    fractions = {1: torch.tensor([1.0, 0.5, 0.0, 0.0]), 2: torch.tensor([0.0, 0.0, 0.25, 1.0])}
    cover, kind = object_targets(4, fractions, objects)
    assert cover.tolist() == [[1.0, 0.5, 0.0, 0.0], [0.0, 0.0, 0.25, 1.0]]
    assert kind.tolist() == [list(KINDS).index("mug"), list(KINDS).index("cup")]

    class Stub(torch.nn.Module):  # the attributes AuxHeads reads of a Molmo2 model
        def __init__(self) -> None:
            super().__init__()
            vit = type("C", (), {"hidden_size": 2})()
            self.model = torch.nn.Module()
            self.model.vision_tower = torch.nn.Linear(1, 1)
            self.model.vision_tower.config = vit
            self.model.multi_modal_projector = torch.nn.Linear(1, 1)
            self.config = type(
                "C", (), {"text_config": type("T", (), {"hidden_size": 2})(), "image_token_id": 9}
            )()

    heads = AuxHeads(Stub(), object_kinds=True)
    assert AuxHeads(Stub()).object_kind is None  # off: no head, older checkpoints' heads still load
    # Two pictures of 4 patches: the second picture's cup must read its own patches (4-7), not the first's.
    batch = {
        "aux_object_cover": torch.block_diag(cover, cover[1:]),
        "aux_object_kind": torch.cat([kind, kind[1:]]),
        "aux_colour": torch.zeros(8, 3),
        "aux_kind": torch.zeros(8, 3),
        "image_token_pooling": torch.zeros(2, 4, dtype=torch.long),
    }
    feats = torch.zeros(2, 4, 2, requires_grad=True)
    heads._seen["patch"] = feats
    total, parts = heads.loss(batch, 0.0, 0.0, 0.0, 0.0, object_kind_weight=1.0)
    assert "aux_object_kind" in parts and torch.isfinite(total)
    total.backward()
    touched = feats.grad.abs().sum(-1)
    assert touched[0, :2].gt(0).all() and touched[0, 3].gt(0) and touched[1, 0:2].eq(0).all()
    assert touched[1, 2:].gt(0).all()
