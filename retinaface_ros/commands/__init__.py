"""Sub-commands of the ``retinaface`` CLI (see ``retinaface_ros.cli``)."""


class UsageError(ValueError):
    """Bad input on the command line: printed as ``retinaface: error: ...`` with exit code 2."""
