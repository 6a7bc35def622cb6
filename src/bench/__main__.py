"""``python -m src.bench`` (or ``dcrepro-bench``) from any directory: ``scripts/bench.py``."""

from src.core.checkout import run_script


def main() -> None:
    run_script("bench")


if __name__ == "__main__":
    main()
