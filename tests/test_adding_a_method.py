"""docs/adding-a-method.md walked through (issue 19): the files it prints, written into a copy
of the checkout and nothing else changed, make a working method (≤ 4 files) and a working data
set (≤ 3 files): their own tests pass there, and ``src.run``, ``src.predict`` and the config
checks take them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO

PAGE = REPO / "docs" / "adding-a-method.md"
FILE_BLOCK = re.compile(r"\*\*`([^`]+)`\*\*\n\n```\w*\n(.*?)```", re.S)


def page_files() -> dict[str, str]:
    """``{path: text}`` of every file the page prints (a bold path, then its code block)."""
    return dict(FILE_BLOCK.findall(PAGE.read_text()))


def test_the_page_prints_four_files_for_a_method_and_three_for_a_data_set():
    files = page_files()
    method = [p for p in files if "pca_kmeans" in p]
    dataset = [p for p in files if "blobs" in p]
    assert sorted(method) == [
        "conf/method/pca_kmeans.yaml",
        "src/methods/pca_kmeans.py",
        "tests/test_pca_kmeans.py",
    ]  # + the table spec's `methods:` line when it joins a table: ≤ 4
    assert sorted(dataset) == [
        "conf/dataset/blobs.yaml",
        "src/data/blobs.py",
        "tests/test_data_blobs.py",
    ]
    assert not any((REPO / p).exists() for p in files)  # examples, not shipped


def copy_checkout(dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("src", "conf", "scripts", "examples"):
        if (REPO / name).exists():
            shutil.copytree(REPO / name, dest / name, ignore=ignore)
    (dest / "tests").mkdir()
    shutil.copytree(REPO / "tests" / "helpers", dest / "tests" / "helpers", ignore=ignore)
    shutil.copy(REPO / "tests" / "conftest.py", dest / "tests" / "conftest.py")
    shutil.copy(REPO / "pyproject.toml", dest / "pyproject.toml")


def test_walk_through_the_page_in_a_copy_of_the_checkout(tmp_path):
    copy = tmp_path / "checkout"
    copy_checkout(copy)
    files = page_files()
    for path, text in files.items():
        (copy / path).write_text(text)
    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONPATH": str(copy), "OMP_NUM_THREADS": "1"}
    tests = [p for p in files if p.startswith("tests/")]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
        cwd=copy, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "3 passed" in proc.stdout

    run = subprocess.run(
        [sys.executable, "-m", "src.run", "method=pca_kmeans", "dataset=blobs", "logger=none",
         "plots=false", "preprocess=standardize", f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=copy, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert "pca_kmeans on blobs" in run.stdout

    bad = subprocess.run(
        [sys.executable, "-m", "src.run", "method=pca_kmeans", "method.n_init=0", "logger=none",
         f"hydra.run.dir={tmp_path / 'bad'}"],
        cwd=copy, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert bad.returncode == 2 and "method.n_init=0 is invalid" in bad.stderr, bad.stderr
