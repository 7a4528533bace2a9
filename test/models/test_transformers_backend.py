"""The transformers backend on a tiny Molmo2: real load -> preprocess -> generate -> parse, and loading errors.

A random model answers gibberish, so the parse path is proved by *teaching* a freshly loaded tiny model three
answers about one picture (a few dozen optimizer steps), then asking it through the backend: greedy decoding
must reproduce each answer and the parser must turn it into pixels.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from molmo_ros.config import config_path, node_parameters
from molmo_ros.errors import (
    ErrorCode,
    InvalidRequestError,
    ModelUnavailableError,
    PointParseError,
)
from molmo_ros.models import ModelAnswer, RawAnswer, auto_cpu_threads, load_from_parameters, load_point_model
from molmo_ros.models.transformers_backend import (
    TransformersPointModel,
    bundled_model_dir,
    default_model_path,
    resolve_device,
)
from molmo_ros.pointing import parse_points, point_prompt
from support.teach import teach

RED = point_prompt("the red cup")
GREEN = point_prompt("the green cup")
BLUE = point_prompt("the blue cup")
LESSONS = {
    RED: '<points alt="red cup" coords="1 1 500 500">red cup</points>',
    GREEN: "There are none.",
    BLUE: '<points alt="blue cup" coords="1 1 500">blue cup</points>',  # broken: no Y
}


# ------------------------------------------------------------------------------------------ random model


def test_generate_gives_the_new_text_only_with_timings(
    tiny_model: TransformersPointModel, scene_image
) -> None:
    raw = tiny_model.generate(scene_image, RED)
    assert isinstance(raw, RawAnswer) and isinstance(raw.text, str)
    assert "<|im_start|>" not in raw.text and "Point to" not in raw.text  # the prompt is not echoed
    assert raw.preprocess_ms > 0 and raw.model_ms > 0
    assert 0 < raw.meta["new_tokens"] <= tiny_model.max_new_tokens
    assert raw.meta["prompt_tokens"] > 50  # image tokens + prompt
    # Greedy decoding: the same question gets the same answer.
    assert tiny_model.generate(scene_image, RED).text == raw.text


def test_the_answer_depends_on_the_picture_and_the_prompt(tiny_model: TransformersPointModel) -> None:
    # Compare next-token logits, not texts: a random model's texts may coincide even when its inputs differ.
    model, processor = tiny_model.model, tiny_model.processor

    def logits(image: np.ndarray, prompt: str) -> torch.Tensor:
        messages = [{"role": "user", "content": [{"type": "image", "image": Image.fromarray(image)},
                                                 {"type": "text", "text": prompt}]}]  # fmt: skip
        inputs = processor.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
        )
        with torch.inference_mode():
            return model(**inputs).logits[0, -1]

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    assert not torch.equal(logits(a, RED), logits(b, RED))
    assert not torch.equal(logits(a, RED), logits(a, GREEN))


def test_bad_inputs_are_invalid_requests(tiny_model: TransformersPointModel, scene_image) -> None:
    with pytest.raises(InvalidRequestError, match=r"\(H, W, 3\)"):
        tiny_model.point(scene_image[..., 0], RED)
    with pytest.raises(InvalidRequestError, match="uint8"):
        tiny_model.point(scene_image.astype(np.float32), RED)
    with pytest.raises(InvalidRequestError, match="empty"):
        tiny_model.point(scene_image, "  ")
    with pytest.raises(InvalidRequestError, match="numpy"):
        tiny_model.point(Image.fromarray(scene_image), RED)  # type: ignore[arg-type]


def test_describe_says_what_runs_where(tiny_model: TransformersPointModel) -> None:
    info = tiny_model.describe()
    assert info["backend"] == "transformers" and info["family"] == "molmo2"
    assert (info["device"], info["dtype"]) == ("cpu", "float32")
    assert info["attn_implementation"] == "sdpa"  # the fastest one available on a CPU
    assert 0 < info["num_parameters"] < 1_000_000
    json.dumps(info)  # loggable as is


def _tower_rows(backend: TransformersPointModel, image: np.ndarray) -> list[int]:
    """The crops the vision tower's first layer computed, per forward, for one point query."""
    rows: list[int] = []
    layer = backend.model.model.vision_tower.layers[0]
    handle = layer.register_forward_hook(lambda module, args, out: rows.append(out.shape[0]))
    try:
        backend.generate(image, RED)
    finally:
        handle.remove()
    return rows


def test_the_vision_tower_computes_each_distinct_crop_once(
    tiny_model: TransformersPointModel, scene_image
) -> None:
    # The shipped checkpoint (max_crops 1): its two views of a picture are the same pixels, computed once
    # (molmo_ros/models/shared_crops.py); the test checkpoint's five crops all differ and all run.
    shipped = TransformersPointModel(bundled_model_dir(), device="cpu", max_new_tokens=4)
    try:
        assert _tower_rows(shipped, scene_image) == [1]
    finally:
        shipped.close()
    assert _tower_rows(tiny_model, scene_image) == [5]


def test_close_frees_the_model_and_refuses_later_calls(tiny_ckpt: Path, scene_image) -> None:
    model = TransformersPointModel(tiny_ckpt, device="cpu", max_new_tokens=4)
    model.close()
    model.close()  # twice is fine
    assert model.closed and model.model is None and model.processor is None
    with pytest.raises(ModelUnavailableError, match="closed"):
        model.point(scene_image, RED)


# --------------------------------------------------------------------------------------- taught model


@pytest.fixture(scope="module")
def taught(tiny_ckpt: Path) -> tuple[TransformersPointModel, np.ndarray]:
    """A fresh copy of the tiny model, taught the three LESSONS about one 320x240 picture (fewer crops than
    640x480, so the lessons take a few seconds)."""
    image = np.full((240, 320, 3), 128, dtype=np.uint8)
    image[105:135, 145:175] = (220, 30, 30)
    backend = TransformersPointModel(tiny_ckpt, device="cpu", max_new_tokens=40)
    losses = teach(backend, image, LESSONS, steps=150)
    assert losses[-1] < 0.05, f"the tiny model did not learn its lessons: losses {losses[::10]}"
    yield backend, image
    backend.close()


def test_taught_answer_parses_to_the_image_centre(taught) -> None:
    backend, image = taught
    answer = backend.point(image, RED)
    assert isinstance(answer, ModelAnswer)
    assert answer.text == LESSONS[RED]
    assert (answer.width, answer.height) == (320, 240)
    assert len(answer.points) == 1
    point = answer.points[0]
    assert (point.x, point.y, point.label, point.object_id) == (160.0, 120.0, "red cup", 1)  # the centre
    assert not answer.absent
    assert answer.preprocess_ms > 0 and answer.model_ms > 0 and answer.parse_ms > 0
    assert answer.total_ms >= answer.preprocess_ms + answer.model_ms + answer.parse_ms
    assert all(math.isfinite(v) for v in (answer.preprocess_ms, answer.model_ms, answer.parse_ms))


def test_taught_none_answer_is_absent(taught) -> None:
    backend, image = taught
    answer = backend.point(image, GREEN)
    assert answer.text == "There are none."
    assert answer.points == () and answer.absent


def test_stop_after_points_ends_the_answer_where_its_coordinates_end(taught) -> None:
    backend, image = taught
    whole = backend.generate(image, RED)
    short = backend.generate(image, RED, stop_after_points=True)
    assert short.text == '<points alt="red cup" coords="1 1 500 500">'  # the rest repeats "red cup"
    assert whole.text.startswith(short.text)
    assert short.meta["new_tokens"] < whole.meta["new_tokens"]
    point = parse_points(short.text, 320, 240).points[0]
    assert (point.x, point.y, point.label) == (160.0, 120.0, "red cup")
    # An answer without a point tag is written whole.
    assert backend.generate(image, GREEN, stop_after_points=True).text == "There are none."


def test_unreadable_answer_raises_the_parsers_error_with_the_text(taught) -> None:
    backend, image = taught
    with pytest.raises(PointParseError) as caught:
        backend.point(image, BLUE)
    assert caught.value.code == ErrorCode.PARSE_ERROR
    assert caught.value.model_output.text == LESSONS[BLUE]
    assert any(LESSONS[BLUE] in note for note in caught.value.__notes__)


# ------------------------------------------------------------------------------------------- loading


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="does not exist"):
        TransformersPointModel(tmp_path / "nope", device="cpu")


def test_directory_without_config(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"\0")
    with pytest.raises(ModelUnavailableError, match=r"no config.json"):
        TransformersPointModel(tmp_path, device="cpu")


def test_wrong_model_type(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    with pytest.raises(ModelUnavailableError, match=r"'bert'.*not a Molmo"):
        TransformersPointModel(tmp_path, device="cpu")


def _remote_code_dir(path: Path) -> Path:
    path.mkdir()
    (path / "config.json").write_text(json.dumps({
        "model_type": "molmo",
        "architectures": ["MolmoForCausalLM"],
        "auto_map": {"AutoConfig": "config_molmo.MolmoConfig",
                     "AutoModelForCausalLM": "modeling_molmo.MolmoForCausalLM"},
    }))  # fmt: skip
    return path


def test_remote_code_needs_trust_remote_code(tmp_path: Path) -> None:
    directory = _remote_code_dir(tmp_path / "molmo-v1")
    with pytest.raises(ModelUnavailableError, match="trust_remote_code=True"):
        TransformersPointModel(directory, device="cpu")
    # Hub ids of Molmo v1 are refused before any download is tried.
    with pytest.raises(ModelUnavailableError, match="trust_remote_code=True"):
        TransformersPointModel("allenai/Molmo-7B-D-0924", device="cpu")


def test_remote_code_with_its_code_missing_fails_clearly(tmp_path: Path) -> None:
    directory = _remote_code_dir(tmp_path / "molmo-v1")
    with pytest.raises(ModelUnavailableError, match=r"cannot load the configuration.*config_molmo"):
        TransformersPointModel(directory, device="cpu", trust_remote_code=True)


def test_corrupt_weights(tiny_ckpt: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_ckpt, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ModelUnavailableError, match="cannot load the model"):
        TransformersPointModel(broken, device="cpu")


def test_hub_id_not_in_the_local_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache
    with pytest.raises(ModelUnavailableError, match="molmo-ros-test/no-such-model"):
        TransformersPointModel("molmo-ros-test/no-such-model", device="cpu", local_files_only=True)


def test_bad_device_and_dtype_strings(tiny_ckpt: Path) -> None:
    for device in ("gpu", "cuda:x", "cpu:0", ""):
        with pytest.raises(ModelUnavailableError, match="unknown device"):
            TransformersPointModel(tiny_ckpt, device=device)
    with pytest.raises(ModelUnavailableError, match="unknown dtype"):
        TransformersPointModel(tiny_ckpt, device="cpu", dtype="fp8")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_asked_for_without_cuda(tiny_ckpt: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="CUDA is not available"):
        TransformersPointModel(tiny_ckpt, device="cuda")


def test_device_and_dtype_defaults() -> None:
    choice = resolve_device("auto", "auto")
    if torch.cuda.is_available():
        assert choice.device == "cuda:0" and choice.dtype in ("bfloat16", "float16")
    else:
        assert (choice.device, choice.dtype) == ("cpu", "float32")
    assert resolve_device("CPU", "bfloat16").dtype == "bfloat16"  # overridable


def _overcommit_refuses_huge_allocations() -> bool:
    try:
        mode = Path("/proc/sys/vm/overcommit_memory").read_text().strip()
        meminfo = Path("/proc/meminfo").read_text().split()
    except OSError:
        return False
    total_kib = int(meminfo[meminfo.index("MemTotal:") + 1]) + int(meminfo[meminfo.index("SwapTotal:") + 1])
    return mode in ("0", "2") and total_kib * 1024 < 256 * 2**30


@pytest.mark.skipif(not _overcommit_refuses_huge_allocations(),
                    reason="only safe where the kernel refuses a 512 GiB allocation up front")  # fmt: skip
def test_out_of_memory_is_a_clear_unavailable_error(tiny_ckpt: Path, tmp_path: Path) -> None:
    # A real allocation failure: a config whose vocabulary needs 2 x 512 GiB of float32 tables that the
    # checkpoint does not hold, so transformers must allocate and initialise them.
    from safetensors.torch import load_file, save_file

    huge = tmp_path / "huge"
    shutil.copytree(tiny_ckpt, huge)
    config = json.loads((huge / "config.json").read_text())
    config["text_config"]["vocab_size"] = 2**31
    (huge / "config.json").write_text(json.dumps(config))
    tensors = load_file(huge / "model.safetensors")
    kept = {k: v for k, v in tensors.items() if "wte." not in k and not k.startswith("lm_head")}
    save_file(kept, huge / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ModelUnavailableError, match="out of memory") as caught:
        TransformersPointModel(huge, device="cpu")
    assert caught.value.code == ErrorCode.MODEL_UNAVAILABLE


# -------------------------------------------------------------------------------- factory and default


def test_factory_loads_the_transformers_backend(tiny_ckpt: Path, scene_image) -> None:
    with load_point_model("transformers", str(tiny_ckpt), device="cpu", max_new_tokens=3) as model:
        assert isinstance(model, TransformersPointModel) and model.max_new_tokens == 3
        assert model.generate(scene_image, RED).meta["new_tokens"] <= 3


def test_factory_refuses_unknown_backends_and_options(tiny_ckpt: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="unknown model backend"):
        load_point_model("onnx", str(tiny_ckpt))
    with pytest.raises(ModelUnavailableError, match="unknown option"):
        load_point_model("transformers", str(tiny_ckpt), base_url="http://x")
    with pytest.raises(ModelUnavailableError, match="max_new_tokens"):
        load_point_model("transformers", str(tiny_ckpt), device="cpu", max_new_tokens=0)


def test_the_bundled_model_is_the_default() -> None:
    assert (bundled_model_dir() / "config.json").is_file()
    assert default_model_path() == bundled_model_dir()


def test_no_bundled_model_says_how_to_get_one(monkeypatch, tmp_path) -> None:
    from molmo_ros.models import transformers_backend

    monkeypatch.setattr(transformers_backend, "bundled_model_dir", lambda: tmp_path / "molmo2-tiny-sim")
    with pytest.raises(ModelUnavailableError, match=r"no bundled model.*training"):
        default_model_path()
    with pytest.raises(ModelUnavailableError, match="no bundled model"):
        load_point_model("transformers", "default")


def test_a_model_built_in_memory_answers_through_the_backend(scene_image) -> None:
    from training.molmo2 import Molmo2Sizes, build_molmo2

    model, processor, info = build_molmo2(Molmo2Sizes(text_layers=1, vision_layers=1), seed=5)
    assert info.path is None
    backend = TransformersPointModel.from_loaded(model, processor, name="fresh", max_new_tokens=5)
    assert backend.describe()["device"] == "cpu" and backend.describe()["dtype"] == "float32"
    assert 0 < backend.generate(scene_image, RED).meta["new_tokens"] <= 5
    with pytest.raises(ModelUnavailableError, match="Molmo2"):
        TransformersPointModel.from_loaded(torch.nn.Linear(2, 2), processor)


def test_cpu_threads_setting(tiny_ckpt: Path) -> None:
    before = torch.get_num_threads()
    try:
        model = load_point_model("transformers", str(tiny_ckpt), device="cpu", cpu_threads=1)
        assert torch.get_num_threads() == 1 and model.describe()["cpu_threads"] == 1
        model.close()
        with pytest.raises(ModelUnavailableError, match="cpu_threads"):
            TransformersPointModel(tiny_ckpt, device="cpu", cpu_threads=0)
    finally:
        torch.set_num_threads(before)


def test_the_pointer_parameters_choose_the_cpu_threads(tiny_ckpt: Path, monkeypatch) -> None:
    """cpu_threads 0 (config/point.yaml's default) leaves one core free; a positive value is taken as given."""
    p = {
        **node_parameters(config_path("point.yaml"), "molmo_pointer"),
        "model": str(tiny_ckpt),
        "device": "cpu",
    }
    assert p["cpu_threads"] == 0
    before = torch.get_num_threads()
    try:
        for cores, expected in ((2, 1), (1, 1), (8, 7)):
            monkeypatch.setattr("os.cpu_count", lambda cores=cores: cores)
            assert auto_cpu_threads() == expected
        monkeypatch.setattr("os.cpu_count", lambda: 3)
        model = load_from_parameters(p)
        assert model.describe()["cpu_threads"] == torch.get_num_threads() == 2
        model.close()
        model = load_from_parameters({**p, "cpu_threads": 1})
        assert model.describe()["cpu_threads"] == torch.get_num_threads() == 1
        model.close()
    finally:
        torch.set_num_threads(before)
