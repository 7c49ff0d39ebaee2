"""Pure policies: history + settings + now in, findings and plans out. No I/O, no clock."""

from calsync.policies.health import evaluate_pair, fairness
from calsync.policies.types import (
    Finding,
    Occurrence,
    PairHealth,
    PairParams,
    PolicyParams,
    Status,
)

__all__ = [
    "Finding",
    "Occurrence",
    "PairHealth",
    "PairParams",
    "PolicyParams",
    "Status",
    "evaluate_pair",
    "fairness",
]
