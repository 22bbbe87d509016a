"""papermill's kernel engine (nbclient), keeping only the step's budget of printed output.

The papermill path of ``nbflow.runner`` runs the step in a kernel. What the cells print reaches
the runner as IOPub stream messages; beyond the step's :class:`~nbflow.budget.OutputBudget`
they are dropped as they arrive (neither kept in the notebook nor logged), and one output says
how much was cut. Memory and disk stay bounded however much a step prints.
"""

from __future__ import annotations

from typing import Any

from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines

from .budget import OutputBudget

__all__ = ["NAME", "register"]

NAME = "nbflow-kernel"


class _Client(PapermillNotebookClient):
    budget: OutputBudget
    marker: Any = None

    def output(self, outs: list[Any], msg: dict[str, Any], display_id: Any, cell_index: int) -> Any:
        if msg["msg_type"] != "stream":
            return super().output(outs, msg, display_id, cell_index)
        text = self.budget.take(msg["content"].get("text", ""))
        out = super().output(outs, _stream(msg, text), display_id, cell_index) if text else None
        if self.budget.cut and self.marker is None:  # where the cut starts; counted at the end
            self.marker = super().output(outs, _stream(msg, ""), None, cell_index)
        return out

    def execute(self, **kwargs: Any) -> Any:
        try:
            return super().execute(**kwargs)
        finally:
            marker = self.budget.marker
            if marker is not None and self.marker is not None:
                self.marker["text"] = marker
            if marker is not None:
                self.log.warning(marker.strip())


def _stream(msg: dict[str, Any], text: str) -> dict[str, Any]:
    content = {**msg["content"], "text": text}
    if not text:
        content["name"] = "stderr"
    return {**msg, "content": content}


class _Engine(NBClientEngine):
    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man: Any,
        kernel_name: Any,
        log_output: bool = False,
        start_timeout: int = 60,
        execution_timeout: Any = None,
        **kwargs: Any,
    ) -> Any:
        """papermill's ``NBClientEngine``, with a client that keeps the step's output budget."""
        from papermill.engines import logger
        from papermill.utils import merge_kwargs, remove_args

        kwargs = remove_args(["input_path"], **kwargs)
        safe = remove_args(["timeout", "startup_timeout"], **kwargs)
        final = merge_kwargs(
            safe,
            timeout=execution_timeout or kwargs.get("timeout"),
            startup_timeout=start_timeout,
            kernel_name=kernel_name,
            log=logger,
            log_output=log_output,
        )
        client = _Client(nb_man, **final)
        client.budget = OutputBudget()
        return client.execute()


def register() -> str:
    """Register the engine with papermill; return its name."""
    papermill_engines.register(NAME, _Engine)
    return NAME
