"""Cross-attention that fuses a question embedding with the embeddings of recent events.

The question is the query (Q); the events are the keys and values (K, V), each plus an encoding of
its age (days before the question's reference time). The attended context is added back through
a gate (a gated residual), then rescaled to the question's norm so cosine search is unchanged in
scale::

    q' = Wq q
    k_i = Wk e_i + Wt phi(age_i)        v_i = Wv e_i + Wt phi(age_i)
    a = softmax(q' . k_i / temperature - recency * log(1 + age_i))
    out = q + gate * sum_i a_i v_i          (then scaled to |q|)

Training-free defaults: identity ``Wq``, ``Wk``, ``Wv``, a zero ``Wt``, a fixed temperature and
gate, so it works without any training data. ``gate = 0`` returns the question unchanged. The
trained variant (``chronorag.rankers.train_expander``) learns all of them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn


def age_encoding(ages: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal encoding of ``log(1 + age in days)`` (log: a day matters this week, not next year).

    :param ages: ages in days, any shape.
    :param dim: encoding size (even).
    :returns: a tensor of shape ``ages.shape + (dim,)``.
    """
    scaled = torch.log1p(ages.clamp(min=0).float()).unsqueeze(-1)
    frequencies = torch.exp(
        torch.arange(0, dim, 2, dtype=torch.float32, device=ages.device) * (-math.log(10.0) / max(dim, 2))
    )
    angles = scaled * frequencies
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


class CrossAttentionFusion(nn.Module):
    """Question-to-events cross-attention with a gated residual.

    :param dim: embedding size (384 for MiniLM).
    :param time_dim: size of the age encoding.
    :param temperature: attention temperature (cosines of normalised embeddings are small numbers).
    :param gate: residual gate in [0, 1]; 0 leaves the question unchanged.
    :param recency: attention penalty per unit of ``log(1 + age)``: recent events weigh more.
    :param learn_gate: whether training may change the gate.
    """

    def __init__(
        self,
        dim: int = 384,
        time_dim: int = 16,
        temperature: float = 0.05,
        gate: float = 0.3,
        recency: float = 0.5,
        learn_gate: bool = True,
    ) -> None:
        super().__init__()
        if not 0.0 <= gate <= 1.0:
            raise ValueError("gate must be in [0, 1]")
        if temperature <= 0:
            raise ValueError("temperature must be positive")
        self.dim = dim
        self.time_dim = time_dim
        self.query_proj = _identity_linear(dim)
        self.key_proj = _identity_linear(dim)
        self.value_proj = _identity_linear(dim)
        self.time_proj = nn.Linear(time_dim, dim, bias=False)
        nn.init.zeros_(self.time_proj.weight)
        self.log_temperature = nn.Parameter(torch.tensor(math.log(temperature)))
        self.recency = nn.Parameter(torch.tensor(float(recency)))
        self.gate = nn.Parameter(torch.tensor(float(gate)), requires_grad=learn_gate)

    def forward(
        self, query: torch.Tensor, events: torch.Tensor, ages: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Fuse each question with its events.

        :param query: ``(batch, dim)`` question embeddings.
        :param events: ``(batch, n, dim)`` event embeddings.
        :param ages: ``(batch, n)`` event ages in days (>= 0).
        :param mask: ``(batch, n)`` booleans, True for real events (padding False); ``None``: all real.
        :returns: the fused ``(batch, dim)`` embeddings and the ``(batch, n)`` attention weights.
        """
        if events.shape[1] == 0:
            return query, events.new_zeros(events.shape[:2])
        if mask is None:
            mask = torch.ones(events.shape[:2], dtype=torch.bool, device=events.device)
        time = self.time_proj(age_encoding(ages, self.time_dim))
        keys = self.key_proj(events) + time
        values = self.value_proj(events) + time
        logits = torch.einsum("bd,bnd->bn", self.query_proj(query), keys) / self.log_temperature.exp()
        logits = logits - self.recency * torch.log1p(ages.clamp(min=0).float())
        logits = logits.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(logits, dim=-1)
        # A question with no events at all: softmax of all -inf is NaN; its context is zero.
        weights = torch.nan_to_num(weights, nan=0.0) * mask
        context = torch.einsum("bn,bnd->bd", weights, values)
        fused = query + self.gate.clamp(0.0, 1.0) * context
        scale = query.norm(dim=-1, keepdim=True) / fused.norm(dim=-1, keepdim=True).clamp(min=1e-12)
        return fused * scale, weights

    def config(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this module's shape."""
        return {"dim": self.dim, "time_dim": self.time_dim}

    def save(self, path: str | Path) -> None:
        """Save the weights and shape to one file (``torch.save`` of a plain dict).

        :param path: file to write.
        """
        torch.save({"config": self.config(), "state_dict": self.state_dict()}, str(path))

    @classmethod
    def load(cls, path: str | Path, map_location: str = "cpu") -> CrossAttentionFusion:
        """Load a module saved by :meth:`save`.

        :param path: the weights file.
        :param map_location: torch device to load onto.
        :returns: the module in eval mode.
        """
        payload = torch.load(str(path), map_location=map_location, weights_only=True)
        module = cls(**payload["config"])
        module.load_state_dict(payload["state_dict"])
        return module.eval()


def _identity_linear(dim: int) -> nn.Linear:
    layer = nn.Linear(dim, dim, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(dim))
    return layer
