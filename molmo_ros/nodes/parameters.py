"""Declaring a node's parameters from its section of config/*.yaml, the one place defaults live."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

from molmo_ros.config import config_path, node_parameters


def declare_from_config(
    node: Node, config_file: str, descriptions: Mapping[str, str], section: str | None = None
) -> dict[str, Any]:
    """Declare every parameter of `section` (default: the node's name) in config/<config_file>.

    The YAML value is the default and fixes the type; `descriptions` gives each parameter's descriptor
    text (a parameter missing from it is a programming error). Values passed to the node (a parameter file,
    `-p`, launch arguments) override the defaults as usual. Returns the effective values.
    """
    defaults = node_parameters(config_path(config_file), section or node.get_name())
    missing = sorted(set(defaults) - set(descriptions))
    if missing:
        raise KeyError(f"parameters without a description: {missing}")
    for name, default in defaults.items():
        descriptor = ParameterDescriptor(description=descriptions[name])
        node.declare_parameter(name, default, descriptor)
    return current_values(node, defaults)


def current_values(node: Node, names: Mapping[str, Any] | list[str]) -> dict[str, Any]:
    return {name: node.get_parameter(name).value for name in names}


def validating_callback(
    node: Node,
    validate: Callable[[dict[str, Any]], None],
    frozen: Callable[[], Collection[str]] | None = None,
) -> Callable[[list[Parameter]], SetParametersResult]:
    """A set-parameters callback that runs `validate` on the values as they would be after the change.

    `validate` raises ValueError (or the library's errors) with the reason, which the caller of
    set_parameters receives. With `frozen`, a change to a parameter in ``frozen()`` (the names the node cannot
    apply in its current state) is refused with the reason: it is read only when the node starts or is
    configured.
    """

    def callback(changes: list[Parameter]) -> SetParametersResult:
        refused = sorted({c.name for c in changes} & set(frozen())) if frozen is not None else []
        if refused:
            return SetParametersResult(
                successful=False,
                reason=f"{refused} are read when the node is configured or started: change them while it "
                "is unconfigured (deactivate and clean up a lifecycle node) or restart it",
            )
        values = {name: param.value for name, param in node._parameters.items()}
        values.update({param.name: param.value for param in changes})
        try:
            validate(values)
        except (ValueError, TypeError, KeyError) as err:
            return SetParametersResult(successful=False, reason=str(err))
        return SetParametersResult(successful=True)

    return callback


RELIABILITY = {"best_effort": ReliabilityPolicy.BEST_EFFORT, "reliable": ReliabilityPolicy.RELIABLE}


def camera_qos(reliability: str, depth: int) -> QoSProfile:
    """Keep-last `depth` QoS for camera subscriptions, `reliability` one of :data:`RELIABILITY`'s names."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=RELIABILITY[reliability])


#: QoS of the /molmo/point service and its clients: reliable, every request kept. The default (keep the last
#: 10) drops requests of a burst inside DDS before the node sees them; kept, each one gets an answer (BUSY
#: beyond the node's queue), none is lost.
SERVICE_QOS = QoSProfile(history=HistoryPolicy.KEEP_ALL, depth=1, reliability=ReliabilityPolicy.RELIABLE)
