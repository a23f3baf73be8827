"""ROS 2 layer of retinaface_ros (nodes, message conversion). Needs rclpy; the core package does not."""
