"""``python -m retinaface_ros`` runs the ``retinaface`` CLI."""

import sys

from retinaface_ros.cli import main

sys.exit(main())
