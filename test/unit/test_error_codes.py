"""ErrorCode (library) and molmo_ros_interfaces/msg/Error.msg (ROS) must agree, name for name."""

import re
from pathlib import Path

from molmo_ros.errors import ErrorCode, MolmoRosError, PointOutsideImageError

ERROR_MSG = Path(__file__).resolve().parents[2] / "molmo_ros_interfaces" / "msg" / "Error.msg"


def constants_in_msg_file() -> dict[str, int]:
    pattern = re.compile(r"^uint8\s+([A-Z_]+)\s*=\s*(\d+)\s*$")
    found = {}
    for line in ERROR_MSG.read_text().splitlines():
        match = pattern.match(line.strip())
        if match:
            found[match.group(1)] = int(match.group(2))
    return found


def test_error_codes_match_the_interface_file():
    assert constants_in_msg_file() == {code.name: code.value for code in ErrorCode}


def test_error_codes_match_the_generated_message():
    from molmo_ros_interfaces import msg

    for code in ErrorCode:
        assert getattr(msg.Error, code.name) == code.value, code.name


def test_exceptions_carry_their_code_and_reason():
    err = PointOutsideImageError("x=700 is outside a 640 px wide image")
    assert err.code == ErrorCode.POINT_OUTSIDE_IMAGE
    assert "700" in err.message
    assert MolmoRosError("why", ErrorCode.BUSY).code == ErrorCode.BUSY
