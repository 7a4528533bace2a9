"""Which Fast DDS profile the launch files give their processes (molmo_ros.bringup.dds), and that the
profile is a Fast DDS XML file with a shared-memory segment larger than a camera image."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from molmo_ros.bringup.dds import PROFILE_FILE, dds_environment

CONFIG = Path(__file__).resolve().parents[2] / "config"
VARIABLE = "FASTDDS_DEFAULT_PROFILES_FILE"


def test_by_default_the_packages_profile() -> None:
    assert dds_environment("", CONFIG, {}) == {VARIABLE: str(CONFIG / PROFILE_FILE)}
    assert dds_environment("", CONFIG, {"RMW_IMPLEMENTATION": "rmw_fastrtps_cpp"}) == {
        VARIABLE: str(CONFIG / PROFILE_FILE)
    }


def test_the_users_own_profile_or_rmw_is_left_alone() -> None:
    assert dds_environment("", CONFIG, {VARIABLE: "/etc/mine.xml"}) == {}
    assert dds_environment("", CONFIG, {"FASTRTPS_DEFAULT_PROFILES_FILE": "/etc/mine.xml"}) == {}
    assert dds_environment("", CONFIG, {"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"}) == {}


def test_none_and_a_named_file(tmp_path) -> None:
    assert dds_environment("none", CONFIG, {}) == {}
    mine = tmp_path / "mine.xml"
    mine.write_text("<dds/>")
    assert dds_environment(str(mine), CONFIG, {VARIABLE: "/etc/other.xml"}) == {VARIABLE: str(mine)}
    with pytest.raises(ValueError, match="not a file"):
        dds_environment(str(tmp_path / "absent.xml"), CONFIG, {})


def test_the_profile_holds_whole_images_in_shared_memory() -> None:
    ns = {"d": "http://www.eprosima.com"}
    root = ET.parse(CONFIG / PROFILE_FILE).getroot()
    shm = next(
        t for t in root.iterfind(".//d:transport_descriptor", ns) if t.findtext("d:type", "", ns) == "SHM"
    )
    largest_image = 1920 * 1080 * 4  # RGBA at full HD
    assert int(shm.findtext("d:maxMessageSize", "0", ns)) >= largest_image
    assert int(shm.findtext("d:segment_size", "0", ns)) >= 4 * int(shm.findtext("d:maxMessageSize", "0", ns))
    participant = root.find(".//d:participant", ns)
    assert participant.get("is_default_profile") == "true"
    assert participant.findtext(".//d:useBuiltinTransports", "", ns) == "false"
    used = [t.text for t in participant.iterfind(".//d:userTransports/d:transport_id", ns)]
    assert used[0] == shm.findtext("d:transport_id", "", ns) and len(used) == 2  # UDP stays for discovery
