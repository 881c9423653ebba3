"""The operating state (NG-7): AGGRESSIVE, BALANCED or DEFENSIVE, chosen by data."""

from qts.engines.state.machine import StateMachine, StateStatus, Transition
from qts.engines.state.profile import PROFILES, OperatingState, StateProfile
from qts.engines.state.rules import StateInputs, TransitionRules

__all__ = [
    "PROFILES",
    "OperatingState",
    "StateInputs",
    "StateMachine",
    "StateProfile",
    "StateStatus",
    "Transition",
    "TransitionRules",
]
