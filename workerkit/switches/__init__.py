"""Feature switches: ZooKeeper-backed, read from memory, surviving outages and restarts."""

from workerkit.switches.gate import SwitchGate
from workerkit.switches.manager import SwitchManager
from workerkit.switches.model import Switch
from workerkit.switches.rollout import in_rollout

__all__ = ["Switch", "SwitchGate", "SwitchManager", "in_rollout"]
