"""Camera data the geometry tests share: a 640x480 K, distortion sets, a duck-typed CameraInfo."""

from __future__ import annotations

from types import SimpleNamespace

K = [525.0, 0.0, 319.5, 0.0, 520.0, 239.5, 0.0, 0.0, 1.0]
PLUMB_BOB = (0.12, -0.25, 0.001, -0.0015, 0.08)
RATIONAL = (0.1, -0.05, 0.0008, 0.0012, 0.01, 0.02, -0.01, 0.005)
EQUIDISTANT = (0.05, -0.01, 0.002, -0.0005)


def camera_info(**overrides):
    """A duck-typed CameraInfo with the fields of sensor_msgs/CameraInfo."""
    fields = dict(
        k=list(K),
        p=[525.0, 0.0, 319.5, 0.0, 0.0, 520.0, 239.5, 0.0, 0.0, 0.0, 1.0, 0.0],
        width=640,
        height=480,
        distortion_model="plumb_bob",
        d=[0.0] * 5,
        binning_x=0,
        binning_y=0,
        roi=SimpleNamespace(x_offset=0, y_offset=0, width=0, height=0, do_rectify=False),
    )
    fields.update(overrides)
    return SimpleNamespace(**fields)
