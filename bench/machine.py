"""What the benchmark scripts record about the machine they ran on (the CPU model: core's helper,
which training also writes into every fold file)."""

from __future__ import annotations

from core.train.loop import cpu_model

__all__ = ["cpu_model"]
