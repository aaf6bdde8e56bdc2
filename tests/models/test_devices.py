import pytest
import torch

from models.devices import DeviceUnavailable, autocast, inference_dtype, resolve_device, training_dtype

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")


def test_cpu_is_honoured_and_runs_in_fp32():
    device = resolve_device("cpu")
    assert device == torch.device("cpu")
    assert inference_dtype(device) == training_dtype(device) == torch.float32


@pytest.mark.parametrize("native", [True, False])
def test_auto_training_precision_on_cpu_is_bf16_only_where_verified_and_native(monkeypatch, native):
    monkeypatch.setattr("models.devices.cpu_has_native_bf16", lambda: native)
    cpu = torch.device("cpu")
    assert training_dtype(cpu, "auto", cpu_bf16=True) == (torch.bfloat16 if native else torch.float32)
    assert training_dtype(cpu, "auto", cpu_bf16=False) == torch.float32
    assert training_dtype(cpu, "fp32", cpu_bf16=True) == torch.float32  # asked for: honoured
    assert training_dtype(cpu, "bf16", cpu_bf16=False) == torch.bfloat16


def test_auto_takes_cuda_only_when_present():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@no_cuda
@pytest.mark.parametrize("setting", ["cuda", "cuda:0"])
def test_an_absent_cuda_device_is_an_error_not_a_silent_cpu_fallback(setting):
    with pytest.raises(DeviceUnavailable, match="CUDA is not available"):
        resolve_device(setting)


@pytest.mark.parametrize("setting", ["gpu", "cuda:", "CPU", "mps"])
def test_unknown_device_names_are_refused_with_the_valid_list(setting):
    with pytest.raises(DeviceUnavailable, match="valid: auto, cpu, cuda, cuda:N"):
        resolve_device(setting)


def test_explicit_half_precision_autocasts_on_the_devices_own_type():
    x = torch.ones(2, 2)
    with autocast(torch.device("cpu"), inference_dtype(torch.device("cpu"), "bf16")):
        assert (torch.nn.functional.linear(x, x)).dtype == torch.bfloat16
    with autocast(torch.device("cpu"), torch.float32):
        assert (torch.nn.functional.linear(x, x)).dtype == torch.float32


def test_an_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="valid: auto, fp32, bf16, fp16"):
        inference_dtype(torch.device("cpu"), "fp8")
