"""pacer's built-in agents (`pacer:TYPE`), run as OCF agents in their own process.

This package's __init__ stays import-light: every built-in action starts a
Python process that imports it (`runner.py` holds the node-side runner).
"""

from __future__ import annotations

# type -> module under pacer.agents.builtin; the module defines the agent class.
BUILTINS = {"process": "process", "vip": "vip"}
