"""Fork servers started ahead of time (engine/warm.py): spares by kind, and engines taking them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nbflow import api
from nbflow.engine import warm
from nbflow.engine.warm import ServerKind, WarmServers

pytestmark = pytest.mark.kernel


@pytest.fixture
def servers() -> Iterator[WarmServers]:
    pool = WarmServers(max_kinds=1)
    previous = warm.install(pool)
    yield pool
    warm.install(previous)
    pool.close()


def test_nothing_installed_means_engines_start_their_own(tmp_path: Path) -> None:
    assert warm.installed() is None
    assert warm.take(ServerKind.of(1, [], [tmp_path])) is None


def test_a_spare_is_taken_and_replaced(servers: WarmServers, tmp_path: Path) -> None:
    kind = ServerKind.of(1, ["json"], [tmp_path])
    assert warm.take(kind) is None  # none ready: the caller starts its own, the next finds one
    assert servers.kinds() == [kind]
    spare = warm.take(kind)
    assert spare is not None and spare.alive() and spare.preload == ["json"]
    assert servers.kinds() == [kind]
    behind = warm.take(kind)
    assert behind is not None and behind is not spare
    spare.close()
    behind.close()


def test_the_least_recently_used_kind_gives_its_spare_up(
    servers: WarmServers, tmp_path: Path
) -> None:
    one, two = ServerKind.of(1, [], [tmp_path / "a"]), ServerKind.of(1, [], [tmp_path / "b"])
    servers.prepare(one)
    first = servers.spare(one)
    assert first is not None and first.alive()
    servers.prepare(two)
    assert servers.kinds() == [two] and not first.alive()
    second = servers.spare(two)
    assert second is not None
    servers.close()
    assert servers.kinds() == [] and not second.alive()
    servers.prepare(one)
    assert servers.kinds() == []  # closed: no more spares


def test_an_engine_runs_its_steps_on_the_spare(
    servers: WarmServers, make_notebook: Any, nbflow_home: Path
) -> None:
    from nbflow.config import load_config
    from nbflow.engine.local import prepare
    from nbflow.notebook.extract import read_notebook

    path = make_notebook("chain")
    config = load_config()
    manifest = api.compile_workflow(read_notebook(path).workflow(), base_dir=path.parent)
    kind = ServerKind.of_workflow(prepare(manifest), config.workers, path.parent.resolve())
    servers.prepare(kind)
    spare = servers.spare(kind)
    assert spare is not None and spare.ready.wait(60)
    run = api.run_workflow(manifest, config=config, workdir=path.parent)
    assert run.phase == "Succeeded", run.report()
    assert not spare.alive()  # the engine took it, ran the steps on it and closed it
    assert servers.kinds() == [kind] and servers.spare(kind) not in (None, spare)
