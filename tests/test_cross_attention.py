"""CrossAttentionFusion: identity behaviour, masking, recency, norm preservation, weights round trip."""

from __future__ import annotations

import pytest
import torch

from chronorag.rankers.cross_attention import CrossAttentionFusion, age_encoding


def unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True)


@pytest.fixture()
def batch():
    generator = torch.Generator().manual_seed(0)
    query = unit(torch.randn(3, 16, generator=generator))
    events = unit(torch.randn(3, 5, 16, generator=generator))
    ages = torch.tensor([[0.0, 1, 7, 30, 365]] * 3)
    return query, events, ages


def test_gate_zero_returns_the_query_unchanged(batch):
    query, events, ages = batch
    fused, weights = CrossAttentionFusion(dim=16, gate=0.0)(query, events, ages)
    assert torch.allclose(fused, query, atol=1e-6)
    assert torch.allclose(weights.sum(-1), torch.ones(3))


def test_fusion_moves_towards_events_and_keeps_the_norm(batch):
    query, events, ages = batch
    module = CrossAttentionFusion(dim=16, gate=0.5)
    fused, weights = module(query, events, ages)
    assert fused.shape == query.shape and weights.shape == (3, 5)
    assert torch.allclose(fused.norm(dim=-1), query.norm(dim=-1), atol=1e-5)
    context = torch.einsum("bn,bnd->bd", weights, events)
    assert (unit(fused) * unit(context)).sum(-1).gt((query * unit(context)).sum(-1)).all()


def test_identical_events_prefer_the_recent_one():
    query = unit(torch.randn(1, 16))
    events = query.unsqueeze(1).repeat(1, 2, 1)
    _, weights = CrossAttentionFusion(dim=16)(query, events, torch.tensor([[1.0, 300.0]]))
    assert weights[0, 0] > weights[0, 1]


def test_mask_and_no_events(batch):
    query, events, ages = batch
    mask = torch.tensor([[True, True, False, False, False], [False] * 5, [True] * 5])
    fused, weights = CrossAttentionFusion(dim=16, gate=0.5)(query, events, ages, mask)
    assert torch.all(weights[0, 2:] == 0) and torch.all(weights[1] == 0)
    assert torch.allclose(fused[1], query[1], atol=1e-6)  # a question with no events is unchanged
    empty, _ = CrossAttentionFusion(dim=16)(query, events[:, :0], ages[:, :0])
    assert torch.equal(empty, query)


def test_age_encoding_shape_and_bounds():
    encoded = age_encoding(torch.tensor([[0.0, 10.0, 1000.0]]), 8)
    assert encoded.shape == (1, 3, 8) and encoded.abs().max() <= 1.0


def test_weights_round_trip(tmp_path, batch):
    query, events, ages = batch
    module = CrossAttentionFusion(dim=16, gate=0.4)
    with torch.no_grad():
        module.key_proj.weight.add_(0.01 * torch.randn(16, 16))
        module.time_proj.weight.normal_()
    path = tmp_path / "fusion.pt"
    module.save(path)
    loaded = CrossAttentionFusion.load(path)
    assert torch.allclose(module(query, events, ages)[0], loaded(query, events, ages)[0], atol=1e-6)
    assert loaded.gate.item() == pytest.approx(0.4)


def test_invalid_parameters():
    with pytest.raises(ValueError):
        CrossAttentionFusion(gate=1.5)
    with pytest.raises(ValueError):
        CrossAttentionFusion(temperature=0)
