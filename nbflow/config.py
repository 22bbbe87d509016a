"""User configuration: the ``NbflowConfig`` traitlets class and where its values come from."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

from traitlets import Bool, Dict, Enum, Float, Int, List, TraitError, Unicode, default, validate
from traitlets.config import Config, Configurable

from .budget import DEFAULT_MAX_OUTPUT_BYTES
from .errors import NbflowError, StorageError


def no_credentials(_owner: Any, proposal: Any) -> str:
    """Validator of the ``artifact_root`` traits: a URL with credentials (``user:secret@``)
    is refused, as the artifact store refuses it, since it would be recorded with every run."""
    from .artifacts.store import refuse_credentials

    root = str(proposal["value"])
    try:
        refuse_credentials(root)
    except StorageError as exc:
        raise TraitError(str(exc)) from None
    return root


def _data_home() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return Path(base) / "nbflow"


class NbflowConfig(Configurable):
    """Settings shared by the magics, the CLI and the engines.

    Values come, lowest precedence first, from the defaults below, ``nbflow_config.py`` or
    ``nbflow_config.json`` in the Jupyter config path, environment variables, then explicit
    options (CLI flags, magic arguments).
    """

    home = Unicode(
        help="Folder of nbflow's own records: runs (state, logs) live under <home>/runs. "
        "Default: $NBFLOW_HOME, else $XDG_DATA_HOME/nbflow (~/.local/share/nbflow).",
    ).tag(config=True)

    artifact_root = Unicode(
        help="fsspec URL under which artifacts are stored, laid out as "
        "<workflow>/<run>/<task>[/<item>]/<name>. Default: $NBFLOW_ARTIFACT_ROOT, "
        "else file://<home>/artifacts.",
    ).tag(config=True)

    storage_options = Dict(
        help="Options for the fsspec filesystem of the artifact root, e.g. "
        "{'profile': 'dev'} for s3fs. Kept in memory only: never written to run records, "
        "manifests, notebooks or logs. Credentials are best left to the standard AWS sources "
        "(environment variables, ~/.aws profiles, instance roles), which s3fs reads itself.",
    ).tag(config=True)

    s3_endpoint_url = Unicode(
        help="Endpoint of an S3-compatible server (MinIO, Ceph, a test server) for s3:// "
        "artifact roots, e.g. http://127.0.0.1:9000. Empty: botocore decides, from "
        "$AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL or the AWS config file, else AWS itself. "
        "Never written to run records or manifests.",
    ).tag(config=True)

    storage_retries = Int(
        6,
        help="How many times a storage operation that failed for a transient reason (endpoint "
        "unreachable, connection reset, throttling, 5xx) is tried again before the step fails.",
    ).tag(config=True)

    storage_backoff_s = Float(
        0.5,
        help="Seconds to wait before the first storage retry; each further wait doubles, up to "
        "storage_max_backoff_s.",
    ).tag(config=True)

    storage_max_backoff_s = Float(
        8.0, help="Longest wait between two storage retries, in seconds."
    ).tag(config=True)

    image = Unicode(
        "python:3.11-slim",
        help="Container image of steps whose template names none (ignored by the local engine).",
    ).tag(config=True)

    max_workers = Int(
        0,
        help="Cores the local engine's steps may use; 0 means the cores this process may use. "
        "A notebook step takes one core (or what --cpu requests), so at most this many run at "
        "once; hand-written pods take what their containers request (resources.requests), and "
        "pods that request nothing are held back only by max_pods. A workflow's --parallelism "
        "lowers it further.",
    ).tag(config=True)

    max_pods = Int(
        0,
        help="Most pods (steps) the local engine runs at once, whatever they request; 0 means "
        "8 per usable core, at least 32.",
    ).tag(config=True)

    engine = Enum(
        ["papermill", "fast"],
        help="How the local engine runs a step: 'fast' (the default; a fresh IPython shell in a "
        "process forked from a pre-warmed server; templates it cannot run safely fall back to "
        "papermill) or 'papermill' (a papermill run in a fresh kernel, the reference). "
        "Default: $NBFLOW_ENGINE, else 'fast'.",
    ).tag(config=True)

    cache = Bool(
        True,
        help="Reuse the results of steps whose code, image, parameters and input contents are "
        "unchanged since an earlier run (the local engine's cache, under <home>/cache), once "
        "their artifacts are checked against the digests recorded when they were written. "
        "False (--no-cache): every step runs, and its result replaces the cache entry.",
    ).tag(config=True)

    allow_pickle = Bool(
        True,
        help="Save values no other format takes with pickle (a pickle is only ever loaded when "
        "its digest matches the one recorded by the run that wrote it). False: pickle is never "
        "written nor read; an output that would need it fails with a message naming it.",
    ).tag(config=True)

    max_output_bytes = Int(
        DEFAULT_MAX_OUTPUT_BYTES,
        help="Bytes of what a step prints (stdout, stderr) kept in its log and in its executed "
        "notebook; the rest is cut, and a marker says how much. 0: keep everything.",
    ).tag(config=True)

    keep_last_runs = Int(
        0,
        help="Retention of 'nbflow gc': keep the N most recent runs of each workflow (0: no "
        "count rule). With keep_days too, a run either rule keeps is kept.",
    ).tag(config=True)

    keep_days = Float(
        0.0,
        help="Retention of 'nbflow gc': keep runs started less than this many days ago (0: no "
        "age rule).",
    ).tag(config=True)

    _root_checked = validate("artifact_root")(no_credentials)

    load = List(
        Unicode(),
        help="Files or folders of Kubernetes objects a manifest may refer to, read before it "
        "runs on the local engine (like --load): ConfigMaps, Secrets, PersistentVolumeClaims, "
        "WorkflowTemplates and ClusterWorkflowTemplates, one per document.",
    ).tag(config=True)

    image_commands = Dict(
        value_trait=Unicode(),
        help="What stands for an image's entrypoint on this machine, for hand-written "
        "containers that give no command and run with --host-exec: {image: command line}, "
        "e.g. {'nginx:1.13': 'nginx -g \"daemon off;\"'}. The image may be named with or "
        "without its tag. Like --image-command IMAGE=CMD.",
    ).tag(config=True)

    allow_host_path = Bool(
        False,
        help="Let hostPath volumes of steps run with --host-exec bind this machine's folders "
        "(read-write). Off: such a manifest is refused before it runs.",
    ).tag(config=True)

    host_exec_uid = Int(
        1000,
        help="The user id steps run as with --host-exec when nbflow runs as root (nbflow's pods "
        "run as uid 1000). Steps never run as root; when nbflow runs as another user, they run "
        "as that user.",
    ).tag(config=True)

    @default("home")
    def _home_default(self) -> str:
        return os.environ.get("NBFLOW_HOME") or str(_data_home())

    @default("engine")
    def _engine_default(self) -> str:
        value = os.environ.get("NBFLOW_ENGINE") or "fast"
        if value not in ("fast", "papermill"):
            raise NbflowError(f"NBFLOW_ENGINE is {value!r}: use 'fast' or 'papermill'")
        return value

    @default("artifact_root")
    def _artifact_root_default(self) -> str:
        env = os.environ.get("NBFLOW_ARTIFACT_ROOT")
        if env:
            try:
                return no_credentials(self, {"value": env})
            except TraitError as exc:
                raise NbflowError(f"NBFLOW_ARTIFACT_ROOT: {exc}") from None
        return Path(self.home, "artifacts").resolve().as_uri()

    @property
    def runs_dir(self) -> Path:
        """Folder holding one sub-folder per run."""
        return Path(self.home) / "runs"

    @property
    def layouts_dir(self) -> Path:
        """Folder of graph layouts kept across server starts (a cache: safe to delete)."""
        return Path(self.home) / "layouts"

    @property
    def pod_limit(self) -> int:
        """The effective pod cap (``max_pods``, or 8 per usable core and at least 32)."""
        return self.max_pods or max(32, 8 * usable_cores())

    @property
    def workers(self) -> int:
        """The effective worker count (``max_workers``, or the usable cores when 0)."""
        return self.max_workers or usable_cores()


def load_config(**overrides: object) -> NbflowConfig:
    """Build an :class:`NbflowConfig` from the config files, the environment and ``overrides``.

    ``overrides`` with a value of ``None`` are ignored, so CLI options can be passed as is.
    """
    config = Config()
    try:
        from jupyter_core.paths import jupyter_config_path
        from traitlets.config.loader import JSONFileConfigLoader, PyFileConfigLoader
    except ImportError:  # pragma: no cover - jupyter_core comes with ipykernel
        paths: list[str] = []
    else:
        paths = list(reversed(jupyter_config_path()))
        for path in paths:
            for loader_cls, fname in (
                (JSONFileConfigLoader, "nbflow_config.json"),
                (PyFileConfigLoader, "nbflow_config.py"),
            ):
                if os.path.isfile(os.path.join(path, fname)):
                    config.merge(loader_cls(fname, path=path).load_config())
    return configured(NbflowConfig, config, "nbflow", **overrides)


C = TypeVar("C", bound=Configurable)


def configured(cls: type[C], config: Config, what: str, **overrides: object) -> C:
    """A ``cls`` (``NbflowConfig``, ``ClusterConfig``...) from ``config``, then ``overrides``.

    ``overrides`` with a value of ``None`` are ignored. A value of the wrong kind, in a config
    file or an option, is one line: an :class:`NbflowError` naming the ``what`` setting.
    """
    try:
        obj = cls(config=config)
        for key, value in overrides.items():
            if value is not None:
                setattr(obj, key, value)
    except TraitError as exc:
        raise NbflowError(f"invalid {what} setting: {exc}") from None
    return obj


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity where the OS has one (``taskset``,
    a container's cpuset), else every core of the machine."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1
