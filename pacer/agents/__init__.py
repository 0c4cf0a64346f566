"""Agent runners: OCF, systemd, LSB and pacer's built-in agents; fence agents.

The node daemon uses `AgentRegistry` (an `AgentRunner`) and `FenceAgentRunner`
(a `Fencer`); see `api.py` for the interface.
"""
