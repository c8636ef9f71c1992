"""Adam over one flat tensor: every parameter (and its gradient) of a model is a slice of it.

``torch.optim.Adam`` over the 45 parameter tensors of the default model runs ~10 small operations
per tensor and step, and ``clip_grad_norm_`` one norm per tensor; on ENZYMES-sized batches that was
~24 % of a training step (bench/train_throughput.py). Here the model's parameters are re-pointed
at slices of one flat parameter whose gradient buffer holds their gradients (autograd accumulates
into an existing ``.grad`` in place), and ``torch.optim.Adam`` — the library's own update, weight
decay included, fused into one kernel where torch has one for the device — runs on that one tensor:
the same arithmetic element by element, one update and one norm per step.

The checkpointed state keeps ``torch.optim.Adam``'s per-parameter layout (``state_dict`` /
``load_state_dict`` slice and join the flat moments), so mid-fold training states written before or
after this change resume either way.
"""

from __future__ import annotations

import torch
from torch import nn

#: Adam's per-element state (what is sliced per parameter; ``step`` is one shared count).
MOMENTS = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")


class FlatAdam:
    """``torch.optim.Adam(model.parameters(), lr, weight_decay=...)`` as one update of one flat tensor.

    Call it after the model is on its device (moving the model afterwards detaches the slices).
    Gradients are zeroed in place, never set to None: each parameter's ``.grad`` stays a slice of the
    flat gradient. Not for DistributedDataParallel (its gradient buckets own the gradients).
    """

    def __init__(self, model: nn.Module, lr: float, weight_decay: float = 0.0) -> None:
        self.params = [p for p in model.parameters() if p.requires_grad]
        if not self.params:
            raise ValueError("FlatAdam needs a model with trainable parameters")
        kinds = {(p.dtype, p.device) for p in self.params}
        if len(kinds) != 1:
            raise ValueError(f"FlatAdam needs parameters of one dtype and device, found {sorted(map(str, kinds))}")
        self.flat = nn.Parameter(torch.cat([p.detach().reshape(-1) for p in self.params]))
        self.flat.grad = torch.zeros_like(self.flat)
        for p, part in zip(self.params, self._slices()):
            p.data = self.flat.data[part].view_as(p)
            p.grad = self.flat.grad[part].view_as(p)
        self.optimizer = _adam(self.flat, lr, weight_decay)

    @property
    def param_groups(self) -> list[dict]:
        return self.optimizer.param_groups

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Zero every gradient in place (``set_to_none`` is ignored: the slices must stay views)."""
        self.flat.grad.zero_()

    def clip_grad_norm_(self, max_norm: float) -> torch.Tensor:
        """``nn.utils.clip_grad_norm_`` over all parameters at once (one norm, the same scaling
        ``max_norm / (norm + 1e-6)`` capped at 1); returns the total norm."""
        grad = self.flat.grad
        norm = torch.linalg.vector_norm(grad)
        grad.mul_((max_norm / (norm + 1e-6)).clamp(max=1.0))
        return norm

    def step(self) -> None:
        self.optimizer.step()

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        """``torch.optim.Adam``'s layout for the model's parameters: per-parameter moments and step."""
        inner = self.optimizer.state_dict()
        group = {k: v for k, v in inner["param_groups"][0].items() if k not in ("params", "fused")}
        flat_state = inner["state"].get(0, {})
        state: dict[int, dict] = {}
        if flat_state:
            for i, (p, part) in enumerate(zip(self.params, self._slices())):
                state[i] = {key: (value[part].view_as(p).clone() if key in MOMENTS
                                  else value.clone() if isinstance(value, torch.Tensor) else value)
                            for key, value in flat_state.items()}
        return {"state": state, "param_groups": [{**group, "params": list(range(len(self.params)))}]}

    def load_state_dict(self, state_dict: dict) -> None:
        """Load a per-parameter Adam state (from :meth:`state_dict` or ``torch.optim.Adam``)."""
        groups = state_dict["param_groups"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(self.params):
            raise ValueError(f"optimizer state for {sum(len(g['params']) for g in groups)} parameters in "
                             f"{len(groups)} group(s); this model has {len(self.params)} in one")
        group = {k: v for k, v in groups[0].items() if k != "params"}
        group["fused"] = self.optimizer.param_groups[0].get("fused")  # how this machine runs it, not the writer
        per_param = [state_dict["state"].get(i, state_dict["state"].get(str(i))) for i in groups[0]["params"]]
        flat_state: dict = {}
        if all(per_param):
            flat_state = {key: (torch.cat([s[key].reshape(-1).to(self.flat) for s in per_param]) if key in MOMENTS
                                else value) for key, value in per_param[0].items()}
        self.optimizer.load_state_dict({"state": {0: flat_state} if flat_state else {},
                                        "param_groups": [{**group, "params": [0]}]})

    def _slices(self) -> list[slice]:
        """Each parameter's slice of the flat tensor, in order."""
        ends = torch.tensor([p.numel() for p in self.params]).cumsum(0).tolist()
        return [slice(end - p.numel(), end) for p, end in zip(self.params, ends)]


def _adam(flat: nn.Parameter, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """``torch.optim.Adam`` over the one flat tensor, as one fused kernel where this torch has it
    for the device (the same update; half the time of the unfused one on CPU), else unfused."""
    try:
        return torch.optim.Adam([flat], lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, ValueError, TypeError):
        return torch.optim.Adam([flat], lr=lr, weight_decay=weight_decay)
