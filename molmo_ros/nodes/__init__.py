"""Thin rclpy nodes: parameters, message conversions and calls into the library. One node per module."""
