"""The jupyter_server extension application: its settings, its routes, its start and stop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Float, Int

__all__ = ["NbflowExtension"]

PREFIX = "nbflow/api"
_RUN = r"(?P<run_id>[A-Za-z0-9][-A-Za-z0-9_.]*)"
_NODE = r"(?P<node_id>[^/]+)"
_SCHEDULE = r"(?P<name>[a-z0-9][-a-z0-9]*)"


class NbflowExtension(ExtensionApp):
    """nbflow's REST API and live updates under ``<base_url>nbflow/api/`` (see ``API.md``).

    nbflow's own settings (home, artifact root, engine) come from ``NbflowConfig``, as for the
    CLI and the magics; these are the server's.
    """

    name = "nbflow"
    load_other_extensions = True

    poll_interval_s = Float(
        0.5,
        help="How often (seconds) the run store is checked for runs that other processes "
        "(nbflow run, kernels) started or changed; each check costs one stat per run.",
    ).tag(config=True)

    batch_interval_s = Float(
        0.15,
        help="Least time (seconds) between two live updates of the same run sent to a browser; "
        "changes in between are sent together.",
    ).tag(config=True)

    warm_servers = Int(
        2,
        help="Fork servers kept started, ready for the next run, one per kind of run (the "
        "modules its steps import, its folder) for the latest kinds; 0 keeps none, and each "
        "run started from the server then warms its own up, as nbflow run does.",
    ).tag(config=True)

    page_max = Int(500, help="Largest page of the run list (limit=).").tag(config=True)

    run_scheduler = Bool(
        True,
        help="Fire the schedules of nbflow's home from this server (nbflow schedule). When "
        "another scheduler has the home (nbflow scheduler, another server), this one stands by "
        "and takes over when that one stops.",
    ).tag(config=True)

    threads = Int(
        4,
        help="Threads doing the blocking work of requests (reading run records, starting runs, "
        "laying graphs out) off the server's event loop.",
    ).tag(config=True)

    def initialize_settings(self) -> None:
        """Create the shared state: nbflow's config, the run index, the event hub."""
        from ..config import load_config
        from ..engine import warm
        from .hub import EventHub
        from .service import NbflowService

        assert self.serverapp is not None
        servers = warm.WarmServers(self.warm_servers) if self.warm_servers > 0 else None
        service = NbflowService(
            load_config(), Path(self.serverapp.root_dir), threads=self.threads, warm=servers
        )
        self._previous_warm = warm.install(servers) if servers is not None else None
        hub = EventHub(service, self.poll_interval_s, self.batch_interval_s)
        self.scheduler = None
        if self.run_scheduler:  # a thread of its own; on standby while another has the home
            from ..schedule.scheduler import Scheduler

            self.scheduler = Scheduler(service.config.home).start(standby=True)
        self.settings.update(
            nbflow_service=service,
            nbflow_hub=hub,
            nbflow_page_max=self.page_max,
            # the watcher refreshes the run list every poll_interval_s; a request does it only
            # when the watcher is late
            nbflow_list_max_age_s=2 * self.poll_interval_s + 0.5,
        )

    def initialize_handlers(self) -> None:
        """The routes of ``API.md``."""
        from .events import EventsHandler
        from .nodes import GraphHandler, LogsHandler, NodeHandler, NotebookHandler, OutputsHandler
        from .notebooks import CompileHandler, LintHandler, WorkflowsHandler
        from .runs import ActionHandler, RunHandler, RunsHandler
        from .schedules import (
            DescribeHandler,
            ScheduleActionHandler,
            ScheduleHandler,
            ScheduleHistoryHandler,
            SchedulesHandler,
        )

        run = f"{PREFIX}/runs/{_RUN}"
        schedule = f"{PREFIX}/schedules/{_SCHEDULE}"
        self.handlers.extend(
            [
                (rf"{PREFIX}/runs", RunsHandler),
                (rf"{run}", RunHandler),
                (rf"{run}/graph", GraphHandler),
                (rf"{run}/nodes/{_NODE}", NodeHandler),
                (rf"{run}/nodes/{_NODE}/logs", LogsHandler),
                (rf"{run}/nodes/{_NODE}/notebook", NotebookHandler),
                (rf"{run}/tasks/(?P<task>[^/]+)/outputs", OutputsHandler),
                (rf"{run}/actions/(?P<action>[^/]+)", ActionHandler),
                (rf"{PREFIX}/notebooks/workflows", WorkflowsHandler),
                (rf"{PREFIX}/notebooks/compile", CompileHandler),
                (rf"{PREFIX}/notebooks/lint", LintHandler),
                (rf"{PREFIX}/events", EventsHandler),
                (rf"{PREFIX}/schedules/describe", DescribeHandler),
                (rf"{PREFIX}/schedules", SchedulesHandler),
                (rf"{schedule}", ScheduleHandler),
                (rf"{schedule}/actions/(?P<action>[^/]+)", ScheduleActionHandler),
                (rf"{schedule}/history", ScheduleHistoryHandler),
            ]
        )

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        """Read the run store and start watching it, once the event loop runs."""
        self.settings["nbflow_hub"].start()

    async def stop_extension(self) -> None:
        """Stop the runs driven here, the watching, the warm fork servers and the threads."""
        from ..engine import warm

        service = self.settings["nbflow_service"]
        if self.scheduler is not None:  # the runs it started go on, in their own processes
            await service.blocking(self.scheduler.stop)
        await self.settings["nbflow_hub"].stop()
        await service.blocking(service.stop_all)
        if service.warm is not None:
            warm.install(self._previous_warm)
            await service.blocking(service.warm.close)
        service.close()
