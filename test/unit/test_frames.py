import numpy as np
import pytest

from molmo_ros.errors import ErrorCode, MolmoRosError
from molmo_ros.pointing.frames import FrameSynchronizer, Stamped

MS = 1_000_000


def image(value: int) -> np.ndarray:
    return np.full((4, 6, 3), value, np.uint8)


def depth(value: float) -> np.ndarray:
    return np.full((4, 6), value, np.float32)


def code_of(call) -> ErrorCode:
    with pytest.raises(MolmoRosError) as info:
        call()
    return info.value.code


def test_no_frame_until_both_streams_arrived():
    sync = FrameSynchronizer(slop_ns=20 * MS)
    assert code_of(lambda: sync.latest(0, 1.0)) == ErrorCode.NO_FRAME
    sync.add_rgb(Stamped(1000 * MS, "cam", image(1)))
    with pytest.raises(MolmoRosError, match="no depth image"):
        sync.latest(1000 * MS, 1.0)


def test_pairs_within_slop_and_keeps_only_the_latest():
    sync = FrameSynchronizer(slop_ns=20 * MS)
    sync.set_camera_info("K")
    sync.add_rgb(Stamped(1000 * MS, "cam", image(1)))
    sync.add_depth(Stamped(1010 * MS, "cam", depth(1.0)))
    sync.add_rgb(Stamped(1100 * MS, "cam", image(2)))
    sync.add_depth(Stamped(1105 * MS, "cam", depth(2.0)))
    pair = sync.latest(1110 * MS, 1.0)
    assert pair.rgb.stamp_ns == 1100 * MS and pair.depth.stamp_ns == 1105 * MS
    assert pair.rgb.value[0, 0, 0] == 2 and pair.depth.value[0, 0] == 2.0
    assert pair.camera_info == "K" and pair.rgb.frame_id == "cam"


def test_stamps_too_far_apart_are_not_paired():
    sync = FrameSynchronizer(slop_ns=20 * MS)
    sync.set_camera_info("K")
    sync.add_rgb(Stamped(1000 * MS, "cam", image(1)))
    sync.add_depth(Stamped(1050 * MS, "cam", depth(1.0)))
    with pytest.raises(MolmoRosError, match=r"differ by 50\.0 ms"):
        sync.latest(1060 * MS, 1.0)


def test_an_older_pair_survives_an_unpaired_newer_image():
    sync = FrameSynchronizer(slop_ns=20 * MS)
    sync.set_camera_info("K")
    sync.add_rgb(Stamped(1000 * MS, "cam", image(1)))
    sync.add_depth(Stamped(1000 * MS, "cam", depth(1.0)))
    sync.add_rgb(Stamped(1200 * MS, "cam", image(2)))
    assert sync.latest(1210 * MS, 1.0).rgb.stamp_ns == 1000 * MS


def test_stale_frame_and_missing_camera_info():
    sync = FrameSynchronizer(slop_ns=0)
    sync.add_rgb(Stamped(1000 * MS, "cam", image(1)))
    sync.add_depth(Stamped(1000 * MS, "cam", depth(1.0)))
    assert code_of(lambda: sync.latest(1000 * MS, 1.0)) == ErrorCode.NO_CAMERA_INFO
    sync.set_camera_info("K")
    assert sync.latest(1500 * MS, 1.0).camera_info == "K"
    assert code_of(lambda: sync.latest(3000 * MS, 1.0)) == ErrorCode.STALE_FRAME
    assert sync.latest(3000 * MS, 0.0).rgb.stamp_ns == 1000 * MS  # 0 disables the age check


def test_negative_slop_is_rejected():
    with pytest.raises(ValueError, match="slop_ns"):
        FrameSynchronizer(slop_ns=-1)


def test_a_frame_from_another_clock_says_so():
    sync = FrameSynchronizer(slop_ns=0)
    sync.set_camera_info("K")
    sync.add_rgb(Stamped(5 * 10**9, "cam", image(1)))  # simulated time: 5 s
    sync.add_depth(Stamped(5 * 10**9, "cam", depth(1.0)))
    with pytest.raises(MolmoRosError, match="use_sim_time") as info:
        sync.latest(1_795_000_000 * 10**9, 2.0)  # wall clock
    assert info.value.code == ErrorCode.STALE_FRAME


def test_a_depth_image_that_arrives_after_the_next_colour_image_still_pairs():
    sync = FrameSynchronizer(slop_ns=5_000_000, history=4)
    sync.set_camera_info("info")
    sync.add_rgb(Stamped(100_000_000, "cam", "rgb1"))
    sync.add_rgb(Stamped(200_000_000, "cam", "rgb2"))  # depth 1 is late (reliable delivery, a busy machine)
    sync.add_depth(Stamped(100_000_000, "cam", "depth1"))
    pair = sync.latest(now_ns=210_000_000, max_age_s=1.0)
    assert (pair.rgb.value, pair.depth.value) == ("rgb1", "depth1")
    sync.add_depth(Stamped(200_000_000, "cam", "depth2"))
    pair = sync.latest(now_ns=210_000_000, max_age_s=1.0)
    assert (pair.rgb.value, pair.depth.value) == ("rgb2", "depth2")
    # A repeated old depth image does not replace the pair of the last colour image ...
    sync.add_depth(Stamped(100_000_000, "cam", "depth1-again"))
    assert sync.latest(now_ns=210_000_000, max_age_s=1.0).rgb.value == "rgb2"
    # ... but a camera whose clock started again is followed (pairing goes by arrival, not by stamp).
    sync.add_rgb(Stamped(10_000_000, "cam", "rgb-restarted"))
    sync.add_depth(Stamped(10_000_000, "cam", "depth-restarted"))
    assert sync.latest(now_ns=20_000_000, max_age_s=1.0).rgb.value == "rgb-restarted"


def test_with_a_history_of_one_a_late_depth_image_is_lost():
    sync = FrameSynchronizer(slop_ns=5_000_000, history=1)
    sync.add_rgb(Stamped(100_000_000, "cam", "rgb1"))
    sync.add_rgb(Stamped(200_000_000, "cam", "rgb2"))
    sync.add_depth(Stamped(100_000_000, "cam", "depth1"))
    assert sync.paired_stamp_ns is None
    with pytest.raises(ValueError, match="history"):
        FrameSynchronizer(slop_ns=0, history=0)


def test_ready_needs_a_pair_and_a_camera_info():
    sync = FrameSynchronizer(slop_ns=5_000_000)
    sync.add_rgb(Stamped(100_000_000, "cam", "rgb"))
    sync.add_depth(Stamped(100_000_000, "cam", "depth"))
    assert sync.paired_stamp_ns == 100_000_000 and not sync.ready
    sync.set_camera_info("K")
    assert sync.ready
    sync.clear()
    assert not sync.ready
