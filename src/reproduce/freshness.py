"""Is a finished run's record still what the current code would produce?

A record is *stale* (reported, left out of the tables, run again) when

1. its ``results_class`` differs from what ``src.recording.results_class`` gives its method now (a record
   written before results classes existed has none and is stale too), or
2. its ``config`` differs from the config the current code composes for the same overrides, at
   any key both have, non-semantic keys left out (:data:`IGNORED`). A key only one side has is
   not a difference: a new option's default must keep the old behaviour (else bump the results
   class), and a removed key's setting lives on elsewhere, where the comparison sees it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from src.recording.results_class import results_class
from src.reproduce.store import NON_SEMANTIC, canonical, override_key

# Config keys that cannot change a run's numbers: paths, logging, the files a run exports.
IGNORED = (*NON_SEMANTIC, "export", "run_dir", "hydra")


# Config values that name code which moved without changing (a ``_target_``'s module): a
# record's old name counts as the new one. Add a pair when a module moves; never for a change.
MOVED_CODE = {"src.augment.": "src.data.augment."}  # #19's folders (augmentation → src/data/)


def current_name(value: Any) -> Any:
    """``value`` with a moved module's old name replaced by its new one (:data:`MOVED_CODE`),
    inside lists and dicts too."""
    if isinstance(value, list):
        return [current_name(v) for v in value]
    if isinstance(value, dict):
        return {k: current_name(v) for k, v in value.items()}
    if isinstance(value, str):
        for old, new in MOVED_CODE.items():
            if value.startswith(old):
                return new + value[len(old) :]
    return value


def differences(record: Any, current: Any, path: str = "") -> list[str]:
    """``key: record → current`` for each value that differs at a key both sides have."""
    if isinstance(record, dict) and isinstance(current, dict):
        out = []
        for key in sorted(set(record) & set(current), key=str):
            if not path and key in IGNORED:
                continue
            out += differences(record[key], current[key], f"{path}{key}.")
        return out
    if record == current or current_name(record) == current:
        return []
    return [f"{path.rstrip('.')}: {record!r} → {current!r}"]


@dataclass
class Checker:
    """Checks records against the current code; composes each config key's overrides once."""

    _composed: dict[tuple[str, ...], dict | str] = field(default_factory=dict)

    def problem(self, result: dict, overrides: list[str]) -> str | None:
        """Why ``result`` (a run of ``overrides``) is stale, or None when it is current."""
        method = str(result.get("method", "?"))
        have, want = result.get("results_class"), results_class(method)
        if have != want:
            shown = "none (written before results classes)" if have is None else have
            return f"results class {shown}, the code's is {want}"
        current = self.compose(overrides)
        if isinstance(current, str):
            return f"its overrides no longer compose: {current}"
        diffs = differences(result.get("config") or {}, {**current, "seed": result.get("seed")})
        if diffs:
            more = f" (and {len(diffs) - 1} more)" if len(diffs) > 1 else ""
            return f"config differs from the code's: {diffs[0]}{more}"
        return None

    def compose(self, overrides: list[str]) -> dict | str:
        """The resolved config the current code composes (seed left out), or the error line."""
        body = tuple(o for o in canonical(overrides) if override_key(o) != "seed")
        if body not in self._composed:
            self._composed[body] = self._compose(list(body))
        return self._composed[body]

    def _compose(self, overrides: list[str]) -> dict | str:
        from hydra import compose, initialize_config_dir
        from omegaconf import OmegaConf

        from src.core.config_groups import CONF_DIR

        try:
            with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
                cfg = compose("config", overrides=overrides)
                return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
        except Exception as exc:  # noqa: BLE001 - any composition error is the record's problem
            return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
