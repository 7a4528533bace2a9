"""molmo_ros: point-and-pick with Molmo vision-language models.

Data flows down the subpackages: ``pointing`` (model text -> pixels), ``geometry`` (pixels + depth -> 3D),
``planning`` (3D target -> trajectory), ``models`` (Molmo backends), ``sim`` (MuJoCo), ``nodes`` (thin rclpy
nodes). Nothing outside ``nodes`` imports rclpy.
"""

__version__ = "0.1.0"
