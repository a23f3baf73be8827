"""Install script for retinaface_ros.

Used both by colcon (ament_python build type) and by a plain ``pip install .`` on a machine without
ROS, so it must not import anything from ROS.

PyTorch is deliberately not in ``install_requires``: on Jetson and CUDA machines the right torch build
comes from the vendor, and pip must never replace it (nor download a multi-GB CUDA wheel in a quick
install). Install it yourself, or ask for the ``torch`` extra: ``pip install .[torch]``.

Without torch an exported ONNX model folder runs with ``pip install .[onnx]`` (onnxruntime) or
``pip install .[openvino]``: ``retinaface detect`` and the detector node need nothing else.
"""

import os
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "retinaface_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    description="RetinaFace face detection: PyTorch learner plus ROS 2 detector and trainer nodes",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(exclude=["test", "test.*", "tools", "tools.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", sorted(glob("launch/*.py"))),
        (f"share/{PACKAGE}/config", sorted(p for p in glob("config/*") if os.path.isfile(p))),
    ],
    install_requires=["numpy", "opencv-python-headless", "scipy", "tqdm"],
    extras_require={
        "torch": ["torch>=2.1"],
        "onnx": ["onnxruntime"],  # running exported models; exporting also needs torch and onnx
        "export": ["onnx"],
        "openvino": ["openvino"],
        "recording": ["rosbags", "av"],  # anonymize / detect-bag / export-dataset on bags and videos
        "ray": ["ray", "rosbags", "av"],  # --ray: the recorded-data commands on a Ray cluster
        "train": ["tensorboard", "matplotlib", "pyyaml"],  # TensorBoard logs, --plot figures, --yaml goals
        "test": ["pytest"],
    },
    zip_safe=False,
    entry_points={
        "console_scripts": [
            "retinaface = retinaface_ros.cli:main",
            "detector_node = retinaface_ros.ros.detector_node:main",
            "trainer_node = retinaface_ros.ros.trainer_node:main",
            "image_publisher = retinaface_ros.ros.image_publisher:main",
        ],
    },
)
