"""The `molmo-ros` command line: one subcommand per module in this package.

Each module below defines ``register(subparsers)``, which adds its parser and sets ``func`` (called with the
parsed arguments, returning the process exit code). Subcommands that start ROS nodes import rclpy lazily, so
``molmo-ros --help`` and the plain-Python subcommands work without a ROS environment.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Subcommand modules, in the order `--help` lists them.
SUBCOMMANDS = (
    "molmo_ros.cli.pick",
    "molmo_ros.cli.point",
    "molmo_ros.cli.point_server",
    "molmo_ros.cli.sim",
    "molmo_ros.cli.info",
)


def given_options(args: argparse.Namespace, parameters: dict[str, str]) -> dict[str, object]:
    """The options the user gave (not None), keyed by the node parameter each one sets (`parameters`:
    option -> parameter); options left out keep the parameter file's value."""
    return {param: getattr(args, opt) for opt, param in parameters.items() if getattr(args, opt) is not None}


def ros_arguments(
    config_file: str, params_file: str | None, overrides: dict[str, object], extra: Sequence[str]
) -> list[str]:
    """A node's command line: --ros-args, the parameter file (default: the package's config/<config_file>),
    one ``-p name:=value`` per override, then any further ROS arguments the user gave."""
    from molmo_ros.config import config_path

    ros = ["--ros-args", "--params-file", str(params_file or config_path(config_file))]
    for parameter, value in overrides.items():
        ros += ["-p", f"{parameter}:={value}"]
    return ros + [a for a in extra if a != "--ros-args"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="molmo-ros",
        description="Point-and-pick with Molmo vision-language models, with or without a ROS distribution.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
