"""`python -m pacer.shims TOOL ARGS...`: run one of the crm_* shims."""

import sys

from pacer.shims import main

sys.exit(main(sys.argv[1:]))
