"""The cluster commands of ``nbflow``: ``submit``, ``k8s ...``, and ``--kind``.

``nbflow schedule ... --backend argo`` (:mod:`.schedule`) uses the option groups and the
configuration helper of this module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .options import add_no_cache, add_output, add_source

__all__ = [
    "add_commands",
    "add_kind_arguments",
    "convert_kind",
    "cluster_arguments",
    "pod_arguments",
    "configs",
]

EXIT_OK, EXIT_FAILED = 0, 1
Handler = Callable[[argparse.Namespace], int]


def add_commands(sub: Any) -> dict[str, Handler]:
    """Add ``submit`` and ``k8s`` to the ``nbflow`` sub-commands.

    Returns the handlers by command name, for the caller's dispatch table.
    """
    submit = sub.add_parser("submit", help="submit a notebook's workflow to Argo on Kubernetes")
    add_source(submit)
    cluster_arguments(submit)
    pod_arguments(submit)
    submit.add_argument("--wait", action="store_true", help="follow the run until it ends")
    add_no_cache(submit, "submit")
    add_output(submit, "the Workflow object (with --wait: its final state)")
    _add_k8s(sub)
    return {"submit": _submit, "k8s": _k8s}


def _add_k8s(sub: Any) -> None:
    k8s = sub.add_parser("k8s", help="Kubernetes: RBAC, and control of runs on the cluster")
    ksub = k8s.add_subparsers(dest="k8s_command", required=True)
    rbac = ksub.add_parser("rbac", help="print the least Role/RoleBinding/ServiceAccount needed")
    rbac.add_argument("-n", "--namespace", default="default")
    rbac.add_argument(
        "--service-account", default="nbflow-workflow", help="service account of the workflow pods"
    )
    rbac.add_argument("--user", action="append", default=[], help="user allowed to submit")
    rbac.add_argument("--group", action="append", default=[], help="group allowed to submit")
    rbac.add_argument(
        "--submitter",
        action="append",
        default=[],
        metavar="[NS:]SA",
        help="service account allowed to submit (e.g. a notebook server's)",
    )
    rbac.add_argument(
        "--cluster-templates",
        action="store_true",
        help="also allow publishing ClusterWorkflowTemplates",
    )
    for name, text in _ACTIONS.items():
        sp = ksub.add_parser(name, help=text)
        sp.add_argument("run", help="workflow (run) name")
        cluster_arguments(sp)
        if name in ("retry", "resume"):
            sp.add_argument("--wait", action="store_true", help="follow the run until it ends")
    publish = ksub.add_parser(
        "publish",
        help="create or update a WorkflowTemplate that other workflows can use (templateRef)",
    )
    add_source(publish)
    cluster_arguments(publish)
    pod_arguments(publish)
    publish.add_argument("--name", help="template name (default: the workflow's)")
    publish.add_argument(
        "--cluster-scope",
        action="store_true",
        help="a ClusterWorkflowTemplate, for every namespace",
    )


def add_kind_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``compile`` options that pick the Argo kind and share templates."""
    parser.add_argument(
        "--kind",
        choices=["workflow", "workflowtemplate", "clusterworkflowtemplate", "cronworkflow"],
    )
    parser.add_argument("--name", help="object name of a template or CronWorkflow")
    parser.add_argument(
        "--schedule",
        action="append",
        metavar="CRON",
        help="CronWorkflow schedule, repeatable (implies --kind cronworkflow)",
    )
    parser.add_argument("--timezone")
    parser.add_argument("--concurrency-policy", choices=["Allow", "Forbid", "Replace"])
    parser.add_argument(
        "--template-ref",
        metavar="NAME",
        help="call the step templates of WorkflowTemplate NAME (templateRef)",
    )
    parser.add_argument(
        "--cluster-template-ref", metavar="NAME", help="same, from ClusterWorkflowTemplate NAME"
    )


def convert_kind(
    manifest: dict[str, Any], args: argparse.Namespace, schedule: str | None = None
) -> dict[str, Any]:
    """Apply the :func:`add_kind_arguments` options to a compiled Workflow
    (:func:`nbflow.argo.kinds.export`); ``schedule`` is the notebook's ``%%workflow
    --schedule``, used when no ``--schedule`` is given."""
    from ..argo.kinds import export

    cluster_ref = getattr(args, "cluster_template_ref", None)
    given = getattr(args, "schedule", None)  # the notebook's own schedule alone makes no cron
    return export(
        manifest,
        getattr(args, "kind", None) or ("cronworkflow" if given else "workflow"),
        name=getattr(args, "name", None),
        schedules=tuple(given or ([schedule] if schedule else [])),
        timezone=getattr(args, "timezone", None),
        concurrency_policy=getattr(args, "concurrency_policy", None),
        template_ref=getattr(args, "template_ref", None) or cluster_ref,
        cluster_scope=bool(cluster_ref),
    )


_ACTIONS = {
    "stop": "stop a run (running steps are killed, exit handlers run)",
    "terminate": "stop a run without running its exit handlers",
    "retry": "run the failed steps of a failed run again",
    "resume": "resume a suspended run",
    "delete": "delete a run (and its pods) from the cluster",
}

# ------------------------------------------------------------------ options


def cluster_arguments(sp: argparse.ArgumentParser) -> None:
    """Add the -n/--context/--kubeconfig options to ``sp``."""
    sp.add_argument("-n", "--namespace", help="namespace (default: the kubeconfig context's)")
    sp.add_argument("--context", help="kubeconfig context")
    sp.add_argument("--kubeconfig", help="kubeconfig file")


def pod_arguments(sp: argparse.ArgumentParser) -> None:
    """Add the pod options (--image, --service-account, ...) to ``sp``."""
    sp.add_argument("--image", help="image of the steps (the nbflow runner image)")
    sp.add_argument("--service-account", help="service account of the workflow pods")
    sp.add_argument("--image-pull-secret", action="append", metavar="SECRET")
    sp.add_argument("--node-selector", action="append", metavar="KEY=VALUE")
    sp.add_argument("--toleration", action="append", metavar="KEY[=VALUE][:EFFECT]")
    sp.add_argument(
        "--artifact-repository",
        metavar="CONFIGMAP[#KEY]",
        help="artifact repository of the workflow (default: the namespace's)",
    )


def configs(args: argparse.Namespace) -> tuple[Any, Any]:
    """The nbflow and cluster configurations of a command's arguments."""
    from ..cluster.options import load_cluster_config, parse_selector, parse_toleration
    from ..config import load_config

    cfg = load_config(
        home=getattr(args, "home", None),
        artifact_root=getattr(args, "artifact_root", None),
        cache=False if getattr(args, "no_cache", False) else None,
    )
    selectors = getattr(args, "node_selector", None)
    tolerations = getattr(args, "toleration", None)
    pulls = getattr(args, "image_pull_secret", None)
    cluster = load_cluster_config(
        cfg,
        namespace=args.namespace,
        context=args.context,
        kubeconfig=args.kubeconfig,
        image=getattr(args, "image", None),
        service_account=getattr(args, "service_account", None),
        image_pull_secrets=list(pulls) if pulls else None,
        node_selector=dict(parse_selector(s) for s in selectors) if selectors else None,
        tolerations=[parse_toleration(t) for t in tolerations] if tolerations else None,
        artifact_repository_ref=getattr(args, "artifact_repository", None),
    )
    return cfg, cluster


def _load(args: argparse.Namespace) -> tuple[Any, dict[str, Any], Path]:
    """(Workflow model or manifest, leftover parameters, base folder) of ``args.source``."""
    from ..api import load_source

    source, params, base, _ = load_source(args.source, args.workflow, args.parameter)
    return source, params, base


# ------------------------------------------------------------------ commands


def _submit(args: argparse.Namespace) -> int:
    from ..argo.manifest import dump
    from ..cluster.prune import NothingToRun
    from ..cluster.submit import submit_workflow

    source, params, base = _load(args)
    cfg, cluster = configs(args)
    try:
        run = submit_workflow(
            source,
            parameters=params,
            config=cfg,
            cluster=cluster,
            base_dir=base,
            progress=sys.stderr,
            wait=args.wait,
            follow=args.wait,
        )
    except NothingToRun as exc:
        print(f"nbflow: {exc}", file=sys.stderr)
        return EXIT_OK
    print(f"submitted {run.id} to namespace {run.namespace}", file=sys.stderr)
    if not args.wait:
        print(run.id)
    else:
        _report(run)
    if args.output:
        print(dump(run.workflow, args.output), end="")
    return EXIT_OK if not args.wait or run.phase == "Succeeded" else EXIT_FAILED


def _report(run: Any) -> None:
    print(run.report(), file=sys.stderr)


def _publish(obj: dict[str, Any], args: argparse.Namespace, cluster: Any) -> int:
    from ..argo.manifest import dump
    from ..cluster.client import ArgoClient

    if getattr(args, "apply", True):
        with ArgoClient.from_config(cluster) as client:
            _, created = client.apply(obj)
            where = (
                ""
                if obj["kind"] == "ClusterWorkflowTemplate"
                else (f" in namespace {client.namespace}")
            )
        print(
            f"{'created' if created else 'updated'} {obj['kind']} {obj['metadata']['name']}{where}",
            file=sys.stderr,
        )
    elif getattr(args, "output_file", None):
        Path(args.output_file).write_text(dump(obj), encoding="utf-8")
        print(f"wrote {args.output_file}", file=sys.stderr)
    else:
        sys.stdout.write(dump(obj))
    return EXIT_OK


def _k8s(args: argparse.Namespace) -> int:
    if args.k8s_command == "rbac":
        return _rbac(args)
    if args.k8s_command == "publish":
        from ..argo.kinds import convert
        from ..cluster.submit import build_manifest

        source, params, base = _load(args)
        cfg, cluster = configs(args)
        manifest, _ = build_manifest(
            source, config=cfg, cluster=cluster, parameters=params, base_dir=base
        )
        kind = "clusterworkflowtemplate" if args.cluster_scope else "workflowtemplate"
        return _publish(convert(manifest, kind, name=args.name), args, cluster)
    from ..cluster.run import open_cluster_run

    cfg, cluster = configs(args)
    run = open_cluster_run(args.run, config=cfg, cluster=cluster)
    action = args.k8s_command
    if action in ("retry", "resume"):
        getattr(run, action)()
        print(f"{action} of {run.id}: {run.phase}", file=sys.stderr)
        if args.wait:
            run.subscribe(_printer())
            run.wait()
            _report(run)
            return EXIT_OK if run.phase == "Succeeded" else EXIT_FAILED
        return EXIT_OK
    getattr(run, action)()
    print(f"{action}: {run.id} in namespace {run.namespace}", file=sys.stderr)
    return EXIT_OK


def _printer() -> Any:
    from ..engine.progress import ProgressPrinter

    return ProgressPrinter(sys.stderr)


def _rbac(args: argparse.Namespace) -> int:
    import yaml

    from ..cluster.rbac import RbacOptions, rbac_manifests

    opts = RbacOptions(
        args.namespace,
        args.service_account,
        args.user,
        args.group,
        args.submitter,
        args.cluster_templates,
    )
    objects = rbac_manifests(opts)
    sys.stdout.write(yaml.safe_dump_all(objects, sort_keys=False))
    if not (args.user or args.group or args.submitter):
        print(
            "no --user, --group or --submitter: bind the nbflow-submitter Role yourself",
            file=sys.stderr,
        )
    return EXIT_OK
