import pytest

from molmo_ros.config import config_path, node_parameters


def test_point_defaults_come_from_the_yaml():
    params = node_parameters(config_path("point.yaml"), "molmo_pointer")
    assert params["backend"] in {"transformers", "openai"}
    assert params["trust_remote_code"] is False
    assert params["depth_window"] % 2 == 1
    assert len(params["static_transform"]) == 7


def test_missing_file_and_missing_section_say_so(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no config file 'nope\.yaml'"):
        config_path("nope.yaml")
    other = tmp_path / "other.yaml"
    other.write_text("someone_else:\n  ros__parameters: {a: 1}\n")
    with pytest.raises(KeyError, match="molmo_pointer"):
        node_parameters(other, "molmo_pointer")
    assert node_parameters(other, "someone_else") == {"a": 1}


def test_point_server_command_line_carries_the_overrides():
    from molmo_ros.cli import build_parser, given_options, ros_arguments
    from molmo_ros.cli.point_server import OVERRIDES

    args = build_parser().parse_args(["point-server", "--model", "/m", "--target-frame", "world"])
    overrides = given_options(args, OVERRIDES)
    line = ros_arguments("point.yaml", args.params_file, overrides, ["--ros-args", "-r", "a:=b"])
    assert line[:2] == ["--ros-args", "--params-file"] and line[2].endswith("config/point.yaml")
    assert line[3:] == ["-p", "model:=/m", "-p", "target_frame:=world", "-r", "a:=b"]
