"""``python -m ml``: see ml/commands.py."""

import sys

from ml.commands import main

if __name__ == "__main__":  # not when a spawned worker process imports it as __mp_main__
    sys.exit(main())
