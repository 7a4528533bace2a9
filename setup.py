"""ament_python package molmo_ros (the repository root).

Installs the library, the launch files, config/ (recursively) and the ament resource marker, and one console
script per node plus the `molmo-ros` CLI.
"""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "molmo_ros"
HERE = Path(__file__).resolve().parent


def tree(folder: str) -> list[tuple[str, list[str]]]:
    """data_files entries installing every file below `folder` into share/molmo_ros/<folder>."""
    entries: dict[str, list[str]] = {}
    for path in sorted((HERE / folder).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            rel = path.relative_to(HERE)
            entries.setdefault(str(Path("share", PACKAGE, rel.parent)), []).append(str(rel))
    return sorted(entries.items())


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    package_data={PACKAGE: ["assets/**/*", "checkpoints/**/*"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        *tree("launch"),
        *tree("config"),
    ],
    install_requires=["setuptools"],
    zip_safe=False,
    maintainer="molmo_ros maintainers",
    maintainer_email="maintainers@molmo-ros.dev",
    description="Point-and-pick with Molmo vision-language models on ROS 2.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "molmo-ros = molmo_ros.cli:main",
            "pointer_node = molmo_ros.nodes.pointer:main",
            "sim_node = molmo_ros.nodes.sim:main",
            "pick_node = molmo_ros.nodes.pick:main",
            "oracle_point_node = molmo_ros.nodes.oracle_point:main",
        ],
    },
)
