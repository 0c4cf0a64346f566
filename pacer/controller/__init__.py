"""The controller (DC): elected through the store, drives transitions.

See README.md for the loop and docs/runtime-protocol.md for what it asks of
node daemons.
"""

from pacer.controller.config import ControllerConfig
from pacer.controller.controller import Controller, Membership

__all__ = ["Controller", "ControllerConfig", "Membership"]
