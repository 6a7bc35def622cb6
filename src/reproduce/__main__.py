"""``python -m src.reproduce`` (or ``dcrepro-reproduce``) from any directory: ``scripts/reproduce.py``."""

from src.core.checkout import run_script


def main() -> None:
    run_script("reproduce")


if __name__ == "__main__":
    main()
