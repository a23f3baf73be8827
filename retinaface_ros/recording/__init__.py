"""Recorded data: image folders, videos (PyAV) and rosbag2 (rosbags) read and rewritten frame by frame,
with outputs that appear only when complete. No ROS runtime needed."""
