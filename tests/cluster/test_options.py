"""Pod knobs from the config, checked against Kubernetes' own OpenAPI schemas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from nbflow.argo.limits import check_manifest
from nbflow.cluster.options import (
    PodOptions,
    apply_pod_options,
    load_cluster_config,
    parse_selector,
    parse_toleration,
    pod_options,
)
from nbflow.config import load_config
from nbflow.errors import NbflowError, SpecError

GOLDEN = Path(__file__).parents[1] / "argo" / "golden"
K8S_VERSIONS = ["1.27", "1.31", kubernetes_validate.latest_version()]


def golden(name: str) -> dict[str, Any]:
    return yaml.safe_load((GOLDEN / f"{name}.yaml").read_text())


FULL = PodOptions(
    service_account="nbflow-workflow",
    image_pull_secrets=("regcred",),
    node_selector={"pool": "cpu", "kubernetes.io/arch": "amd64"},
    tolerations=({"key": "gpu", "operator": "Exists", "effect": "NoSchedule"},),
    artifact_repository_ref="artifact-repositories#team-s3",
    pod_gc="OnPodSuccess",
)


def pods_of(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The Pod each container template would give (main container only), as Argo builds it."""
    spec = manifest["spec"]
    pod_keys = ("serviceAccountName", "imagePullSecrets", "nodeSelector", "tolerations",
                "securityContext", "volumes")
    out = []
    for tmpl in spec["templates"]:
        if "container" not in tmpl:
            continue
        pod_spec = {k: spec[k] for k in pod_keys if k in spec}
        pod_spec["containers"] = [{"name": "main", **tmpl["container"]}]
        pod_spec["restartPolicy"] = "Never"
        out.append({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": f"wf-{tmpl['name']}-1"}, "spec": pod_spec})
    return out


@pytest.mark.parametrize("name", ["chain", "fanout", "options"])
def test_hardened_manifest_is_valid_for_argo_and_kubernetes(
    name: str, validate_manifest: Any
) -> None:
    out = apply_pod_options(golden(name), FULL)
    validate_manifest(out)
    assert [p for p in check_manifest(out) if "continueOn" not in p.message] == []
    pods = pods_of(out)
    assert pods
    for pod in pods:
        for version in K8S_VERSIONS:
            kubernetes_validate.validate(pod, version, strict=True)
    wrong = pods[0]
    wrong["spec"]["securityContext"]["runAsNonRoot"] = "yes"  # the validator does bite
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong, K8S_VERSIONS[-1], strict=True)


def test_pod_settings_land_where_argo_reads_them() -> None:
    out = apply_pod_options(golden("chain"), FULL)
    spec = out["spec"]
    assert spec["serviceAccountName"] == "nbflow-workflow"
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]
    assert spec["nodeSelector"] == {"kubernetes.io/arch": "amd64", "pool": "cpu"}
    assert spec["tolerations"] == [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert spec["artifactRepositoryRef"] == {"configMap": "artifact-repositories",
                                             "key": "team-s3"}
    assert spec["podGC"] == {"strategy": "OnPodSuccess"}
    assert spec["securityContext"] == {"runAsNonRoot": True, "runAsUser": 1000,
                                       "runAsGroup": 1000, "fsGroup": 1000,
                                       "seccompProfile": {"type": "RuntimeDefault"}}
    assert {"name": "nbflow-tmp", "emptyDir": {}} in spec["volumes"]
    for tmpl in spec["templates"][1:]:
        container = tmpl["container"]
        assert container["securityContext"] == {"allowPrivilegeEscalation": False,
                                                "capabilities": {"drop": ["ALL"]},
                                                "readOnlyRootFilesystem": True}
        assert {"name": "nbflow-tmp", "mountPath": "/tmp"} in container["volumeMounts"]
        assert {"name": "HOME", "value": "/tmp"} in container["env"]
    assert apply_pod_options(out, FULL) == out  # applying twice changes nothing
    assert "serviceAccountName" not in golden("chain")["spec"]  # the input is left alone


def test_options_can_be_relaxed() -> None:
    out = apply_pod_options(golden("options"), PodOptions(run_as_non_root=False,
                                                          read_only_root_filesystem=False))
    spec = out["spec"]
    assert "securityContext" not in spec and len(spec["volumes"]) == 1
    flaky = next(t for t in spec["templates"] if t["name"] == "flaky")
    assert "readOnlyRootFilesystem" not in flaky["container"]["securityContext"]
    assert flaky["container"]["env"] == [{"name": "NBFLOW_ATTEMPT", "value": "{{retries}}"}]


def test_an_artifact_root_with_credentials_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "nbflow_config.py").write_text(
        "c.ClusterConfig.artifact_root = 's3://AKIA:hunter2@bucket/prefix'\n"
    )
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(conf))
    with pytest.raises(NbflowError, match="must not hold credentials") as info:
        load_cluster_config(load_config())
    assert "hunter2" not in str(info.value) and "\n" not in str(info.value)
    (conf / "nbflow_config.py").write_text("")
    with pytest.raises(NbflowError, match="must not hold credentials") as info:
        load_cluster_config(load_config(), artifact_root="s3://AKIA:hunter2@bucket")
    assert "hunter2" not in str(info.value)
    assert load_cluster_config(load_config(), artifact_root="s3://bucket").artifact_root == (
        "s3://bucket"
    )


def test_config_files_and_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "nbflow_config.py").write_text(
        "c.ClusterConfig.namespace = 'ml'\n"
        "c.ClusterConfig.service_account = 'runner'\n"
        "c.ClusterConfig.tolerations = [{'key': 'spot', 'operator': 'Exists'}]\n"
        "c.ClusterConfig.node_selector = {'pool': 'batch'}\n"
    )
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(conf))
    cfg = load_cluster_config(load_config(), service_account="override", image=None)
    assert (cfg.namespace, cfg.service_account) == ("ml", "override")
    opts = pod_options(cfg)
    assert opts.tolerations == ({"key": "spot", "operator": "Exists"},)
    assert opts.node_selector == {"pool": "batch"}
    cfg.tolerations = [{"key": "x", "operator": "Sometimes"}]
    with pytest.raises(SpecError, match="operator must be Equal or Exists"):
        pod_options(cfg)
    cfg.tolerations = []
    cfg.run_as_user = 0
    with pytest.raises(SpecError, match="run_as_non_root cannot be combined with run_as_user 0"):
        pod_options(cfg)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("gpu", {"key": "gpu", "operator": "Exists"}),
        ("gpu:NoSchedule", {"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}),
        ("team=ml:NoExecute", {"key": "team", "operator": "Equal", "value": "ml",
                               "effect": "NoExecute"}),
        ("team=ml", {"key": "team", "operator": "Equal", "value": "ml"}),
    ],
)
def test_parse_toleration(text: str, expected: dict[str, Any]) -> None:
    assert parse_toleration(text) == expected


def test_parse_errors() -> None:
    with pytest.raises(SpecError, match="effect must be one of NoSchedule, PreferNoSchedule"):
        parse_toleration("gpu:Never")
    with pytest.raises(SpecError, match="expected KEY"):
        parse_toleration("=x")
    assert parse_selector("pool=cpu") == ("pool", "cpu")
    with pytest.raises(SpecError, match="expected KEY=VALUE"):
        parse_selector("pool")
