"""Where the package's YAML files are, and reading a node's section of a ROS 2 parameter file.

Every default lives once, in config/*.yaml (ROS 2 parameter files: ``node_name: ros__parameters: {...}``).
Nodes declare their parameters with these values, launch files pass the same files, and the CLI reads them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

PACKAGE = "molmo_ros"
SOURCE_CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"


def config_dir() -> Path:
    """The package's config/ folder: the source tree's (editable install), else the installed share/."""
    if SOURCE_CONFIG_DIR.is_dir():
        return SOURCE_CONFIG_DIR
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory(PACKAGE)) / "config"
    except (ImportError, LookupError) as err:  # PackageNotFoundError is a LookupError
        raise FileNotFoundError(f"cannot find the {PACKAGE} config folder: {err}") from err


def config_path(name: str) -> Path:
    """Path of config/<name>; FileNotFoundError with the folder searched when it is missing."""
    path = config_dir() / name
    if not path.is_file():
        raise FileNotFoundError(f"no config file {name!r} in {path.parent}")
    return path


def node_parameters(path: Path | str, node_name: str) -> dict[str, Any]:
    """The ``ros__parameters`` mapping of `node_name` in a ROS 2 parameter file (also under ``/**``)."""
    with open(path) as stream:
        document = yaml.safe_load(stream) or {}
    for key in (node_name, f"/{node_name}", "/**"):
        section = document.get(key)
        if isinstance(section, dict) and "ros__parameters" in section:
            return dict(section["ros__parameters"])
    raise KeyError(f"{path} has no '{node_name}: ros__parameters:' section")
