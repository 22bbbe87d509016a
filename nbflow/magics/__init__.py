"""IPython magics: ``%%template``, ``%%setup``, ``%%workflow`` and ``%nbflow`` in a live kernel."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_cell_magic, line_magic, magics_class

from ..errors import NbflowError
from ..notebook.extract import NotebookSpec
from ..notebook.magic_args import (
    parse_notebook_template,
    parse_setup,
    parse_template,
    parse_workflow_options,
)
from .commands import parse_nbflow
from .origin import run_origin
from .serve import wait_serving_comms

__all__ = ["NbflowMagics", "load_ipython_extension", "live_spec"]

F = TypeVar("F", bound=Callable[..., Any])


def _user_errors(func: F) -> F:
    """Show an :class:`NbflowError` as a one-line ``UsageError`` instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except NbflowError as exc:
            raise UsageError(str(exc)) from None

    return wrapper  # type: ignore[return-value]


@magics_class
class NbflowMagics(Magics):
    """The nbflow magics; ``spec`` is this shell's registry of what the cells defined."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self.spec = NotebookSpec(base_dir=os.getcwd())
        self._cell_id: str | None = None

    @property
    def _ip(self) -> Any:
        assert self.shell is not None, "the magics are not attached to a shell"
        return self.shell

    def _pre_run_cell(self, info: Any) -> None:
        """Remember the id of the running cell: unnamed ``%%setup`` cells are keyed by it."""
        self._cell_id = getattr(info, "cell_id", None)

    def _execute(self, code: str, what: str) -> None:
        """Run ``code`` in the user namespace, showing outputs and errors as a cell would.

        A failure marks this cell failed too (so that "run all" stops), with a short message
        after the traceback the code itself produced.
        """
        result = self._ip.run_cell(code, store_history=False)
        if not result.success:
            raise UsageError(f"{what} is registered, but its code failed (see the error above)")

    @line_cell_magic
    @_user_errors
    def template(self, line: str, cell: str | None = None) -> None:
        """Register a template and run its code.

        ``%%template NAME [--inputs a,b] [--outputs x,y] [--param k=v ...] [--retries N]
        [--retry-policy P] [--backoff DUR] [--backoff-factor N] [--max-backoff DUR]
        [--timeout DUR] [--cpu Q] [--memory Q] [--image IMG] [--no-run]`` registers the
        cell as template NAME, then runs it here unless ``--no-run`` (with its parameters set
        to their defaults, as in a step).

        ``%template NAME --notebook PATH [options]`` registers a whole notebook as a
        template; its ``parameters`` cell gives the parameters.
        """
        if cell is None:
            self.spec.add_template(parse_notebook_template(line, base_dir=os.getcwd()))
            return
        template, no_run = parse_template(line, cell)
        self.spec.add_template(template)
        if not no_run:
            # The step gets its parameters' defaults injected; so does the live namespace, so
            # that the cell runs here exactly as its first step would.
            self._ip.user_ns.update(template.parameters)
            self._execute(cell, f"template {template.name!r}")

    @cell_magic
    @_user_errors
    def setup(self, line: str, cell: str) -> None:
        """``%%setup [NAME]``: code every step needs; runs here and starts every step notebook.

        Re-running the cell replaces its earlier code. Name the cell when the frontend
        does not send cell ids, so that an edited cell replaces its old version.
        """
        name = parse_setup(line)
        self.spec.add_setup(cell, name or self._cell_id or cell)
        self._execute(cell, f"setup {name!r}" if name else "the setup code")

    @cell_magic
    @_user_errors
    def workflow(self, line: str, cell: str) -> None:
        """``%%workflow NAME [--parallelism N] [--on-exit TEMPLATE] [--schedule CRON]``.

        The cell body wires templates into a DAG, e.g. ``extract >> [a, b] >> train``;
        it is checked against the templates defined so far, never run.
        """
        from ..dsl import parse_workflow

        options = parse_workflow_options(line)
        tasks = parse_workflow(cell, where=f"workflow {options.name}", line_offset=1)
        self.spec.add_workflow(options, tasks, check=True)

    @line_magic
    @_user_errors
    def nbflow(self, line: str) -> Any:
        """Act on the workflows of this notebook.

        ``%nbflow run [NAME] [-p k=v ...] [--background | --wait] [--artifact-root URL]
        [--no-cache]``, ``%nbflow compile [NAME] [-o FILE] [-p k=v ...]``,
        ``%nbflow lint [NAME]``, ``%nbflow status [RUN]``, ``%nbflow logs RUN TASK``,
        ``%nbflow resume [RUN] [--node NAME] [--no-cache]``, ``%nbflow retry [RUN] [--no-cache]``,
        ``%nbflow rerun RUN --from TASK`` (with the cells as they are now),
        ``%nbflow stop [RUN] [--terminate]``.
        """
        command, args = parse_nbflow(line)
        return getattr(self, f"_cmd_{command}")(args)

    def _cmd_run(self, args: Any) -> Any:
        """Start the run in the background and show its live graph; wait unless --background.

        Waiting is the default because a notebook executed by papermill or nbconvert (or "Run
        All") needs the cell to end with the run, and a kernel cannot tell reliably whether a
        person is watching. While it waits, the graph updates live and its buttons and clicks
        are answered (see :mod:`nbflow.magics.serve`); interrupting the kernel stops the run.
        With ``--background`` the cell returns at once and the kernel stays usable.
        """
        from .. import api
        from ..config import load_config

        workflow = self.spec.workflow(args.name, args.parameters)
        cwd = os.getcwd()
        widget = _widget_available(self._ip)
        config = load_config(
            artifact_root=args.artifact_root, cache=False if args.no_cache else None
        )
        if args.backend == "argo":
            from ..cluster.options import load_cluster_config
            from ..cluster.prune import NothingToRun
            from ..cluster.submit import submit_workflow

            cluster = load_cluster_config(config, namespace=args.namespace)
            try:
                submitted = submit_workflow(
                    workflow,
                    config=config,
                    cluster=cluster,
                    base_dir=cwd,
                    progress=None if widget else sys.stdout,
                )
            except NothingToRun as exc:  # not an error: the results are all there already
                print(f"nbflow: {exc}")
                return None
            return self._follow(submitted, args.background, None)
        run = api.run_workflow(
            workflow,
            config=config,
            workdir=cwd,
            base_dir=cwd,
            progress=None if widget else sys.stdout,
            wait=False,
            origin=run_origin(self._ip.user_ns, workflow.name, cwd),
        )
        return self._follow(run, args.background, lambda: self.spec.workflow(args.name))

    def _follow(self, run: Any, background: bool, source: Callable[[], Any] | None) -> Any:
        """Show a run's live graph (or text progress) and wait for it unless ``background``.

        A notebook executed without a frontend (papermill, ``nbconvert --execute``) gets the
        static graph instead of the widget: nobody clicks it, and the file stays small.
        """
        from ..widget.headless import StaticGraph, live_frontend

        graph: Any = None
        live = False
        if _widget_available(self._ip):
            live = live_frontend(self._ip)
            if live:
                from ..widget import graph as run_graph

                graph = run_graph(run)
                if source is not None:
                    # "rerun from here" in the graph recompiles the cells as they are then
                    graph.workflow_source = source
            else:
                graph = StaticGraph(run)
            graph.show()
        if not background and run.live:
            try:
                if live:  # the graph's buttons and clicks are answered while the cell waits
                    wait_serving_comms(run, getattr(self._ip, "kernel", None))
                else:
                    run.wait()
            except KeyboardInterrupt:
                run.stop()
                run.wait(timeout=30)
                raise
            if graph is not None:
                graph.finish()
        return run

    def _cmd_resume(self, args: Any) -> Any:
        from .. import api

        progress = None if _widget_available(self._ip) else sys.stdout
        run = api.resume_run(args.run, nodes=args.nodes or None, progress=progress, wait=False,
                             config=_cache_config(args))
        if not run.live:
            print(f"asked run {run.id} to resume")
            return run
        return self._follow(run, False, None)

    def _cmd_retry(self, args: Any) -> Any:
        from .. import api

        progress = None if _widget_available(self._ip) else sys.stdout
        note = self._retry_note(args.run)
        if note:
            print(f"nbflow: {note}")
        run = api.retry_run(args.run, progress=progress, wait=False, config=_cache_config(args))
        return self._follow(run, False, None)

    def _retry_note(self, run_id: str | None) -> str:
        """What a retry of ``run_id`` will say about its code (the cells were edited since)."""
        from .. import api
        from ..widget.actions import edited_since, retry_note

        if not self.spec.workflows:
            return ""
        run = api.get_run(run_id)
        name = _workflow_of(run)
        if name not in self.spec.workflows:
            return ""
        return retry_note(edited_since(run, self.spec.workflow(name)))

    def _cmd_rerun(self, args: Any) -> Any:
        """Rerun a task and its descendants with the cells as they are in this kernel now."""
        from .. import api

        progress = None if _widget_available(self._ip) else sys.stdout
        name = args.name
        if name is None and len(self.spec.workflows) > 1:  # the run says which one
            name = _workflow_of(api.get_run(args.run))
        workflow = self.spec.workflow(name)
        run = api.rerun_from(args.run, args.task, workflow=workflow, progress=progress, wait=False)
        return self._follow(run, False, None)

    def _cmd_stop(self, args: Any) -> None:
        from .. import api

        name = api.stop_run(args.run, terminate=args.terminate)
        print(f"asked run {name} to {'terminate' if args.terminate else 'stop'}")

    def _cmd_compile(self, args: Any) -> None:
        from .. import api

        workflow = self.spec.workflow(args.name, args.parameters)
        manifest = api.compile_workflow(workflow, base_dir=os.getcwd())
        if args.kind or args.schedule or args.template_ref:
            from ..argo.kinds import export

            schedule = args.schedule or workflow.schedule
            kind = args.kind or ("cronworkflow" if args.schedule else None)
            manifest = export(
                manifest,
                kind,
                schedules=(schedule,) if schedule else (),
                template_ref=args.template_ref,
            )
        fmt = "json" if args.output and args.output.endswith(".json") else "yaml"
        text = api.dump_manifest(manifest, fmt)
        if args.output is None:
            print(text, end="" if text.endswith("\n") else "\n")
            return
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"-o: cannot write {args.output!r}: {exc.strerror}") from None
        print(f"wrote {args.output}")

    def _cmd_lint(self, args: Any) -> None:
        from ..lint import check_outputs, lint

        history = self._ip.user_ns.get("In") or self._ip.history_manager.input_hist_parsed
        problems = lint(self.spec, args.name, namespace_cells=list(history))
        problems += check_outputs(self.spec, args.name, self._ip.user_ns)
        for problem in problems:
            print(problem)
        if not problems:
            print("no problems")

    def _cmd_status(self, args: Any) -> None:
        from .. import api

        print(api.get_run(args.run).summary())

    def _cmd_schedule(self, args: Any) -> None:
        """``%nbflow schedule ACTION ...``: the actions of ``nbflow schedule``."""
        from .schedule import schedule_command

        notebook = _session_notebook(self._ip)
        schedule_command(args, notebook, lambda: self.spec.workflow(args.name,
                                                                    _parameters(args.param)))

    def _cmd_logs(self, args: Any) -> None:
        from .. import api

        print(api.task_logs(args.run, args.task))


def _cache_config(args: Any) -> Any:
    """The configuration with ``--no-cache`` applied, when given."""
    from ..config import load_config

    return load_config(cache=False) if getattr(args, "no_cache", False) else None


def _workflow_of(run: Any) -> str | None:
    """The name of the notebook workflow ``run`` ran (its label), if it says."""
    from ..vocab import LABEL_WORKFLOW

    labels = (run.workflow.get("metadata") or {}).get("labels") or {}
    name = labels.get(LABEL_WORKFLOW)
    return str(name) if name else None


def _session_notebook(shell: Any) -> str | None:
    """The notebook file this kernel runs, when the frontend said (``__session__``)."""
    path = shell.user_ns.get("__session__")
    if isinstance(path, str) and path.endswith(".ipynb") and Path(path).is_file():
        return str(Path(path).resolve())
    return None


def _parameters(texts: list[str]) -> dict[str, Any]:
    from ..model.values import parse_assignment

    try:
        return dict(parse_assignment(t) for t in texts)
    except ValueError as exc:
        raise UsageError(f"-p: {exc}") from None


def _widget_available(shell: Any) -> bool:
    """Whether the live graph can be shown: a kernel with a frontend channel, and anywidget."""
    import importlib.util

    return getattr(shell, "kernel", None) is not None and (
        importlib.util.find_spec("anywidget") is not None
    )


def live_spec(shell: Any) -> NotebookSpec:
    """The registry of the nbflow magics loaded in ``shell``."""
    magics = shell.magics_manager.registry.get(NbflowMagics.__name__)
    if magics is None:
        raise UsageError("nbflow is not loaded: run %load_ext nbflow")
    spec: NotebookSpec = magics.spec
    return spec


def load_ipython_extension(ipython: Any) -> None:
    """Register the nbflow magics in ``ipython`` (once; loading again keeps the registry)."""
    if NbflowMagics.__name__ in ipython.magics_manager.registry:
        return
    from ..widget import register_display

    magics = NbflowMagics(ipython)
    ipython.register_magics(magics)
    register_display(ipython)
    ipython.events.register("pre_run_cell", magics._pre_run_cell)
