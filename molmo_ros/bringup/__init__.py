"""The node graphs the package starts: which nodes, with which parameters, in one place (no rclpy, no launch).

``pick.launch.py`` turns :func:`graph.pick_graph` into launch_ros ``Node`` actions; ``molmo-ros pick`` builds the
same nodes in one process. Both therefore run the same nodes with the same parameters.
"""
