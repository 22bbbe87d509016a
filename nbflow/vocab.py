"""Argo's and nbflow's words in one place: phases, node types, labels, annotations, names.

Everything that reads or writes a manifest or a run record spells these strings through this
module, so that a grep never decides behaviour. Standard library only: every layer may import it.
"""

from __future__ import annotations

from enum import Enum

__all__ = [
    "StrEnum",
    "Phase",
    "NodeType",
    "FAILED",
    "COMPLETED",
    "FULFILLED",
    "BOUNDARY_TYPES",
    "GROUP_TYPES",
    "API_VERSION",
    "LABEL_WORKFLOW",
    "CODE_ANNOTATION",
    "CACHE_ANNOTATION",
    "CACHED_TASKS_ANNOTATION",
    "POD_NAME_FORMAT_ANNOTATION",
    "SCHEDULED_TIME_ANNOTATION",
    "CRON_WORKFLOW_LABEL",
    "COMPLETED_LABEL",
    "ARCHIVING_STATUS_LABEL",
    "META_FILE",
    "STEP_DIR",
    "STEP_KEY",
    "STEP_NOTEBOOK",
    "EXECUTED_NOTEBOOK",
    "DIGESTS",
    "STEP_DIR_ENV",
    "TEMPLATE_ENV",
    "ATTEMPT_ENV",
    "TERMINATION_LOG_ENV",
    "RUNNER_MODULE",
    "LOOP_FIELDS",
]


class StrEnum(str, Enum):
    """An enum whose members are their strings (``enum.StrEnum`` from Python 3.11)."""

    def __str__(self) -> str:
        return str(self.value)


class Phase(StrEnum):
    """Node and workflow phases; values are Argo's strings (``Phase.FAILED == "Failed"``)."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ERROR = "Error"
    SKIPPED = "Skipped"
    OMITTED = "Omitted"

    @property
    def completed(self) -> bool:
        """Argo's ``Completed()``: Succeeded, Failed or Error (a workflow is then done)."""
        return self in COMPLETED

    @property
    def fulfilled(self) -> bool:
        """Argo's ``Fulfilled()``: completed, Skipped or Omitted."""
        return self in FULFILLED

    @property
    def failed(self) -> bool:
        """Failed or Error: what ``continueOn``, retries and ``failFast`` react to."""
        return self in FAILED


#: Phases as strings; a ``Phase`` compares (and hashes) equal to its string, so node records'
#: plain strings can be tested with ``node["phase"] in FAILED``.
FAILED = frozenset({Phase.FAILED, Phase.ERROR})
COMPLETED = frozenset({Phase.SUCCEEDED, *FAILED})
FULFILLED = frozenset({*COMPLETED, Phase.SKIPPED, Phase.OMITTED})


class NodeType(StrEnum):
    """``status.nodes[*].type`` values (``workflow_types.go``)."""

    POD = "Pod"
    CONTAINER = "Container"
    STEPS = "Steps"
    STEP_GROUP = "StepGroup"
    DAG = "DAG"
    TASK_GROUP = "TaskGroup"
    RETRY = "Retry"
    SKIPPED = "Skipped"
    SUSPEND = "Suspend"
    HTTP = "HTTP"
    PLUGIN = "Plugin"


#: Nodes of ``dag`` and ``steps`` templates: they bound the nodes they contain.
BOUNDARY_TYPES = frozenset({NodeType.DAG, NodeType.STEPS})
#: Nodes that only group others: they run nothing themselves.
GROUP_TYPES = frozenset({*BOUNDARY_TYPES, NodeType.STEP_GROUP, NodeType.TASK_GROUP})

API_VERSION = "argoproj.io/v1alpha1"

#: The fields of a task or step that run it once per item.
LOOP_FIELDS = ("withItems", "withParam", "withSequence")

# Labels and annotations nbflow writes.
LABEL_WORKFLOW = "nbflow.io/workflow"
CODE_ANNOTATION = "nbflow.io/code-sha256"  # the result cache keys on the step's code and image
CACHE_ANNOTATION = "nbflow.io/cache"  # "false": never reuse this template's results
CACHED_TASKS_ANNOTATION = "nbflow.io/cached-tasks"  # tasks left out of a cluster submission

# Labels and annotations of Argo's.
POD_NAME_FORMAT_ANNOTATION = "workflows.argoproj.io/pod-name-format"
SCHEDULED_TIME_ANNOTATION = "workflows.argoproj.io/scheduled-time"
CRON_WORKFLOW_LABEL = "workflows.argoproj.io/cron-workflow"  # a CronWorkflow's children
COMPLETED_LABEL = "workflows.argoproj.io/completed"
ARCHIVING_STATUS_LABEL = "workflows.argoproj.io/workflow-archiving-status"

#: The metadata file of every saved value; a folder artifact is published by writing it last.
META_FILE = "nbflow.json"

# The step's side of the manifest: its folder in the pod, parameter and artifact names.
STEP_DIR = "/nbflow"
STEP_KEY = "nbflow-key"  # input parameter: the key prefix of the step's outputs
STEP_NOTEBOOK = "nbflow-step"  # input artifact: the step notebook
EXECUTED_NOTEBOOK = "nbflow-notebook"  # output artifact: the executed notebook
DIGESTS = "nbflow-digests"  # output parameter: {artifact name: sha256 of its content}
RUNNER_MODULE = "nbflow.runner"  # what ``python -m`` runs in a step's container

# The environment of a running step.
STEP_DIR_ENV = "NBFLOW_STEP_DIR"
TEMPLATE_ENV = "NBFLOW_TEMPLATE"
ATTEMPT_ENV = "NBFLOW_ATTEMPT"
TERMINATION_LOG_ENV = "NBFLOW_TERMINATION_LOG"
