"""stelib.train's optimizers follow torch.optim step for step (they exist only to skip
torch.optim's slow first-step import of torch._dynamo)."""

import pytest
import torch

from stelib.train import SGD, Adam


@pytest.mark.parametrize(
    ("mine", "reference", "lr"),
    [(Adam, torch.optim.Adam, 0.05), (Adam, torch.optim.Adam, 1e-3), (SGD, torch.optim.SGD, 0.05)],
)
def test_optimizer_matches_torch_optim(mine, reference, lr):
    torch.manual_seed(0)
    a = torch.nn.Parameter(torch.randn(7))
    b = torch.nn.Parameter(a.detach().clone())
    frozen = torch.nn.Parameter(torch.ones(2))  # never receives a gradient
    ours, theirs = mine([a, frozen], lr=lr), reference([b], lr=lr)
    for _ in range(60):
        for p, opt in ((a, ours), (b, theirs)):
            opt.zero_grad()
            ((p**3).sin().sum() + (p**2).sum()).backward()
            opt.step()
    assert torch.allclose(a, b, rtol=0, atol=1e-6)
    assert not torch.equal(a.detach(), torch.zeros(7))
    assert torch.equal(frozen.detach(), torch.ones(2))
