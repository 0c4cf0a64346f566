"""`python -m pacer.lab ARGS` is `pacer lab ARGS` (the fence agent and scripts use it)."""

import sys

from pacer.cli.main import main

sys.exit(main(["lab", *sys.argv[1:]]))
