"""The actions that delete runs, as every interface calls them: ``nbflow gc`` and ``nbflow delete``.

Part of :mod:`nbflow.api` (re-exported there); the policy itself is
:mod:`nbflow.engine.retention`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import NbflowError, RunStateError

if TYPE_CHECKING:
    from .config import NbflowConfig
    from .engine.retention import Removal, RunInfo
    from .engine.store import RunStore

__all__ = ["Cleanup", "collect_garbage", "delete_runs"]


@dataclass
class Cleanup:
    """What a ``gc`` or ``delete`` removed (with ``dry_run``: would remove), and kept."""

    dry_run: bool
    removed: list[Removal] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)  # run -> why it is kept

    @property
    def bytes(self) -> int:
        """Bytes freed (or that would be)."""
        return sum(r.bytes for r in self.removed)


def _config(config: NbflowConfig | None) -> NbflowConfig:
    from .config import load_config

    return config if config is not None else load_config()


def collect_garbage(
    *,
    keep_last: int | None = None,
    keep_days: float | None = None,
    dry_run: bool = False,
    config: NbflowConfig | None = None,
) -> Cleanup:
    """Delete the runs the retention policy does not keep (see :mod:`nbflow.engine.retention`).

    ``keep_last`` and ``keep_days`` default to ``c.NbflowConfig.keep_last_runs`` and
    ``keep_days``; at least one of them must be set.
    """
    from .engine.retention import cache_keys, plan_retention, read_runs
    from .engine.store import RunStore

    cfg = _config(config)
    last = cfg.keep_last_runs if keep_last is None else keep_last
    days = cfg.keep_days if keep_days is None else keep_days
    if last <= 0 and days <= 0:
        raise NbflowError(
            "nothing says which runs to keep: pass --keep-last N and/or --keep-days D "
            "(or set c.NbflowConfig.keep_last_runs / keep_days)"
        )
    runs = RunStore(cfg.runs_dir)
    infos = read_runs(runs, cfg.artifact_root)
    plan = plan_retention(
        infos,
        keep_last=last,
        keep_days=days,
        now=datetime.now(timezone.utc),
        cached=cache_keys(Path(cfg.home) / "cache"),
    )
    out = Cleanup(dry_run, kept=plan.reasons)
    _remove(out, plan.remove, plan.protected, runs, cfg)
    return out


def delete_runs(
    names: list[str], *, dry_run: bool = False, config: NbflowConfig | None = None
) -> Cleanup:
    """Delete the runs ``names``, whatever the retention policy says, keeping the artifacts
    that other runs or cache entries need. A run an engine is working on is refused."""
    from .engine.retention import cache_keys, read_runs
    from .engine.store import RunStore
    from .errors import RunNotFound

    cfg = _config(config)
    runs = RunStore(cfg.runs_dir)
    infos = {i.name: i for i in read_runs(runs, cfg.artifact_root)}
    for name in names:
        if name not in infos:
            raise RunNotFound(f"no run {name!r} in {runs.root}")
        if infos[name].live:
            raise RunStateError(f"run {name} is still running: stop it first")
    doomed = [infos[n] for n in dict.fromkeys(names)]
    others = [i for n, i in infos.items() if n not in names]
    protected = cache_keys(Path(cfg.home) / "cache").union(*(i.reads for i in others))
    out = Cleanup(dry_run)
    _remove(out, doomed, protected, runs, cfg)
    return out


def _remove(
    out: Cleanup, doomed: list[RunInfo], protected: set[str], runs: RunStore, cfg: NbflowConfig
) -> None:
    from .artifacts import ArtifactStore
    from .engine.retention import remove_run

    stores: dict[str, ArtifactStore] = {}
    for info in doomed:
        if info.root not in stores:
            stores[info.root] = ArtifactStore.from_config(cfg, info.root)
        out.removed.append(remove_run(runs, info, stores[info.root], protected, out.dry_run))
