"""`python -m pacer.agents.builtin TYPE ACTION`: run one built-in agent action."""

from __future__ import annotations

import importlib
import sys

from pacer.agents.builtin import BUILTINS
from pacer.agents.builtin.base import BuiltinAgent, run_agent
from pacer.status.types import OCF_ERR_INSTALLED


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in BUILTINS:
        print(f"usage: python -m pacer.agents.builtin {{{'|'.join(BUILTINS)}}} ACTION",
              file=sys.stderr)
        return OCF_ERR_INSTALLED
    module = importlib.import_module(f"pacer.agents.builtin.{BUILTINS[argv[0]]}")
    cls = next(v for v in vars(module).values()
               if isinstance(v, type) and issubclass(v, BuiltinAgent) and v is not BuiltinAgent)
    return run_agent(cls, argv[1])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
