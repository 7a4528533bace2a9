"""The README's ROS-workspace recipe: colcon finds both packages and builds them, interfaces first.

colcon does not descend into a folder that is itself a package, so molmo_ros_interfaces (nested in the
repository-root package) is made visible with one symbolic link in the workspace's src/. This test follows
the README's steps in a temporary workspace, with the .venv's colcon and ROS wheels standing in for a ROS
distribution (the CMake arguments below are what the wheels need and a distribution does not).
"""

import subprocess

import pytest

from support.workspace import COLCON, VENV, build, colcon, make_workspace

pytestmark = pytest.mark.skipif(not COLCON.exists(), reason="colcon is not installed in .venv")


def test_colcon_discovers_both_packages(tmp_path):
    workspace = make_workspace(tmp_path)
    listed = colcon(workspace, "list", "--topological-order")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split("\t") for line in listed.stdout.strip().splitlines()]
    names = [row[0] for row in rows]
    assert names == ["molmo_ros_interfaces", "molmo_ros"], listed.stdout
    assert dict((row[0], row[2]) for row in rows) == {
        "molmo_ros_interfaces": "(ros.ament_cmake)",
        "molmo_ros": "(ros.ament_python)",
    }


def test_without_the_link_colcon_misses_the_interfaces(tmp_path):
    workspace = make_workspace(tmp_path)
    (workspace / "src" / "molmo_ros_interfaces").unlink()
    listed = colcon(workspace, "list", "--names-only")
    assert listed.stdout.split() == ["molmo_ros"]


@pytest.mark.slow
def test_colcon_builds_both_and_the_install_space_works(tmp_path):
    workspace = make_workspace(tmp_path)
    built = build(workspace)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    install = workspace / "install"
    assert (install / "molmo_ros" / "lib" / "molmo_ros" / "molmo-ros").exists()
    assert (install / "molmo_ros" / "share" / "molmo_ros" / "package.xml").exists()
    assert (
        install / "molmo_ros" / "share" / "ament_index" / "resource_index" / "packages" / "molmo_ros"
    ).exists()
    # Source the install space as a ROS user would, then use the built interfaces from there.
    probe = (
        "from molmo_ros_interfaces.srv import Point; import molmo_ros_interfaces, molmo_ros; "
        "print(molmo_ros_interfaces.__file__); print(molmo_ros.__file__); print(Point.Response().error.code)"
    )
    used = subprocess.run(
        ["bash", "-c", f". install/setup.sh && {VENV / 'bin' / 'python'} -c '{probe}'"],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert used.returncode == 0, used.stderr
    iface_file, pkg_file, code = used.stdout.split()
    assert iface_file.startswith(str(install / "molmo_ros_interfaces"))
    assert pkg_file.startswith(str(install / "molmo_ros"))
    assert code == "0"
