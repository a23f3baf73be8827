"""Sub-commands of the ``retinaface`` CLI (see ``retinaface_ros.cli``)."""
