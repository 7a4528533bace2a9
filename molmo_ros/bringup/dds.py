"""Which Fast DDS profile the nodes' processes read: camera-sized samples through shared memory.

Fast DDS's built-in shared-memory segment is 512 KB, smaller than one 640x480 image, so images between two
processes on one machine went over loopback UDP in 64 KB fragments. ``config/fastdds_large_data.xml`` gives
the shared-memory transport a segment that holds whole images. Fast DDS reads a profile file named by
``FASTDDS_DEFAULT_PROFILES_FILE`` when a process starts; the launch files set it for the processes they start.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

PROFILE_FILE = "fastdds_large_data.xml"
#: The variables Fast DDS reads a profiles file from (the second: its name before Fast DDS 3).
PROFILE_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")
FAST_DDS_RMWS = ("", "rmw_fastrtps_cpp", "rmw_fastrtps_dynamic_cpp")


def dds_environment(choice: str, config_dir: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment to add to a node process for the launch argument ``dds_profile`` = `choice`.

    "" (default): the package's profile (`config_dir`/fastdds_large_data.xml), unless the user's environment
    already names a profiles file or selects another RMW than Fast DDS (then nothing is added); "none":
    nothing (Fast DDS's built-in transports); anything else: that file.

    Raises:
        ValueError: a named profile file that does not exist.
    """
    if choice == "none":
        return {}
    if choice:
        path = Path(choice).expanduser()
        if not path.is_file():
            raise ValueError(f"dds_profile {choice!r} is not a file")
        return {PROFILE_VARIABLES[0]: str(path.resolve())}
    if any(environ.get(name) for name in PROFILE_VARIABLES):
        return {}
    if environ.get("RMW_IMPLEMENTATION", "") not in FAST_DDS_RMWS:
        return {}
    return {PROFILE_VARIABLES[0]: str(config_dir / PROFILE_FILE)}
