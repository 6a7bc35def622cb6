"""The README's promises to a newcomer: its examples leave `git status` clean, and the
set-up section says what `make test` skips before `make data`."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()


def written_paths(text: str) -> list[str]:
    """Paths the README's commands write: np.save targets, out=, hydra.run.dir=."""
    paths = re.findall(r"np\.save\('([^']+)'", text)
    paths += re.findall(r"\b(?:out|hydra\.run\.dir)=([\w./-]+)", text)
    return [p for p in paths if not p.startswith(("DIR", "D", "/"))]


@pytest.mark.skipif(
    shutil.which("git") is None or not (REPO / ".git").exists(), reason="needs a git checkout"
)
def test_readme_examples_write_only_ignored_paths():
    paths = written_paths(README)
    assert "outputs/runs/km_digits" in paths  # the predict example is found
    for path in paths:
        ignored = subprocess.run(
            ["git", "check-ignore", "-q", "--no-index", f"{path}/x"], cwd=REPO
        ).returncode
        assert ignored == 0, f"the README writes {path}, which git status would show"
    assert (
        subprocess.run(["git", "check-ignore", "-q", "outputs/preds/x"], cwd=REPO).returncode == 0
    )


def test_setup_section_says_make_test_skips_real_data_before_make_data():
    setup = README.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    assert "make test` before `make data` skips" in setup
