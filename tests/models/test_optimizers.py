import pytest
import torch

from models.optimizers import OptimizerChoice, apply_hyperparameters, build_optimizer


def _network() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8))


def test_adam_on_the_cpu_is_the_fused_single_kernel_one_and_steps_like_the_per_tensor_one():
    fused_net, plain_net = _network(), _network()
    fused = build_optimizer(fused_net.parameters(), OptimizerChoice("adam", lr=1e-2))
    plain = torch.optim.Adam(plain_net.parameters(), lr=1e-2, betas=(0.5, 0.999), foreach=False)
    assert fused.param_groups[0]["fused"] is True
    for _ in range(3):  # the same gradients to both: Adam's sign-like steps would amplify rounding otherwise
        for a, b in zip(fused_net.parameters(), plain_net.parameters()):
            a.grad = torch.randn_like(a)
            b.grad = a.grad.clone()
        fused.step(), plain.step()
    for a, b in zip(fused_net.parameters(), plain_net.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name,kind", [("rmsprop", torch.optim.RMSprop), ("sgd", torch.optim.SGD)])
def test_other_optimizers_by_name(name, kind):
    assert isinstance(build_optimizer(_network().parameters(), OptimizerChoice(name, lr=1e-3)), kind)


def test_unknown_optimizer_names_the_valid_ones():
    with pytest.raises(ValueError, match="adam, rmsprop, sgd"):
        build_optimizer(_network().parameters(), OptimizerChoice("lamb", lr=1e-3))


def test_resumed_state_takes_the_new_jobs_hyperparameters():
    optimizer = build_optimizer(_network().parameters(), OptimizerChoice("adam", lr=1e-3))
    apply_hyperparameters(optimizer, OptimizerChoice("adam", lr=5e-4, betas=(0.0, 0.9)))
    assert optimizer.param_groups[0]["lr"] == 5e-4 and optimizer.param_groups[0]["betas"] == (0.0, 0.9)
