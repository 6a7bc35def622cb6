"""Provenance names the device that trained: the CUDA device's name, or the CPU (issue 10, 4)."""

from __future__ import annotations

import torch

from src.methods.base import MethodOutput
from src.recording.provenance import device_name
from tests.helpers.runs import run_in_process


def fake_cuda(monkeypatch) -> list[int]:
    asked: list[int] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)  # an Ampere+
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: asked.append(i) or f"GPU{i}")
    return asked


def test_device_name_of_cuda_devices_and_the_cpu(monkeypatch):
    cpu = device_name("cpu")
    assert cpu.startswith("CPU (") and device_name(None) == cpu
    asked = fake_cuda(monkeypatch)
    assert device_name(torch.device("cuda")) == "GPU0" and device_name("cuda:1") == "GPU1"
    assert asked == [0, 1]
    # a CUDA machine whose work ran on the CPU (e.g. k-means in scikit-learn) says CPU
    assert device_name("cpu") == cpu and device_name(None) == cpu


def test_result_json_names_the_method_s_device(tmp_path, monkeypatch):
    """``result.json`` takes the device from the method's output, not the trainer config."""
    import src.methods.kmeans as kmeans

    real_run = kmeans.run

    def run_on(device):
        def run(cfg, data, ctx) -> MethodOutput:
            out = real_run(cfg, data, ctx)
            out.device = device
            return out

        return run

    fake_cuda(monkeypatch)
    result = run_in_process(tmp_path / "a", "trainer=auto", "dataset.subset=200")
    assert result["device"].startswith("CPU (")  # k-means ran on the CPU, a GPU or not
    monkeypatch.setattr(kmeans, "run", run_on("cuda"))
    result = run_in_process(tmp_path / "b", "trainer=auto", "dataset.subset=200")
    assert result["device"] == "GPU0"


def test_dcrepro_commit_names_the_commit_before_git(monkeypatch):
    """A tree copied to a GPU machine has no git, or a stale one: the commit prepared here
    names it."""
    import subprocess

    from src.recording import provenance

    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(subprocess, "run", no_git)
    try:
        provenance.git_commit.cache_clear()
        monkeypatch.delenv("DCREPRO_COMMIT", raising=False)
        assert provenance.git_commit() == "unknown"
        provenance.git_commit.cache_clear()
        monkeypatch.setenv("DCREPRO_COMMIT", "c344ffa0")
        assert provenance.git_commit() == "c344ffa0"
        monkeypatch.undo()  # git back: the variable still wins over it
        monkeypatch.setenv("DCREPRO_COMMIT", "1a9f71a0")
        provenance.git_commit.cache_clear()
        assert provenance.git_commit() == "1a9f71a0"
    finally:
        provenance.git_commit.cache_clear()
