"""``python -m graphc ...`` is the ``graphc`` command line (see ``graphc.cli``)."""
import sys

from .cli import main

sys.exit(main())
