"""``--host-exec`` on this machine: each pod's own root and private folders, the step's user,
processes that end with the step, refusals before anything runs, volumes and loaded objects,
containerSets, sidecars, daemons and init containers. Real runs of real commands."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from nbflow import api
from nbflow.config import load_config
from nbflow.errors import ManifestError

POD_UID = 1000 if os.geteuid() == 0 else os.geteuid()


def manifest(templates: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "host-"},
        "spec": {"entrypoint": "main", **spec, "templates": templates},
    }


def sh(name: str, script: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "container": {"image": "alpine", "command": ["sh", "-c", script]},
            **extra}


def run(wf: dict[str, Any], tmp_path: Path, load: list[str] | None = None, **cfg: Any) -> Any:
    config = load_config(cache=False, **cfg)
    return api.run_workflow(wf, config=config, workdir=tmp_path, host_exec=True, load=load)


def results(run_: Any) -> dict[str, str | None]:
    return {n["displayName"]: (n.get("outputs") or {}).get("result")
            for n in run_.nodes.values() if n["type"] in ("Pod", "HTTP")}


def write_objects(tmp_path: Path, *docs: dict[str, Any]) -> str:
    path = tmp_path / "objects.yaml"
    path.write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    return str(path)


def test_every_pod_has_its_own_tmp_var_tmp_and_dev_shm(nbflow_home: Path, tmp_path: Path) -> None:
    # the home is under /tmp (pytest's folders are), which once hid the pods' own folders
    assert str(nbflow_home).startswith("/tmp/")
    script = (
        "for d in /tmp /var/tmp /dev/shm /mnt/vol; do echo {{inputs.parameters.v}} > "
        "$d/nbflow-probe; done; "
        "sleep 0.5; cat /tmp/nbflow-probe /var/tmp/nbflow-probe /dev/shm/nbflow-probe "
        "/mnt/vol/nbflow-probe | tr -d '\\n'"
    )
    step = sh("w", script, inputs={"parameters": [{"name": "v"}]})
    step["container"]["volumeMounts"] = [{"name": "v", "mountPath": "/mnt/vol"}]
    dag = {"name": "main", "dag": {"tasks": [
        {"name": "w", "template": "w", "withItems": ["a", "b", "c"],
         "arguments": {"parameters": [{"name": "v", "value": "{{item}}"}]}}]}}
    r = run(manifest([dag, step], volumes=[{"name": "v", "emptyDir": {}}]), tmp_path)
    assert r.phase == "Succeeded", r.summary()
    assert sorted(results(r).values()) == ["aaaa", "bbbb", "cccc"]
    for host_dir in ("/var/tmp", "/dev/shm"):
        assert not Path(host_dir, "nbflow-probe").exists()


def test_steps_run_unprivileged_with_the_host_read_only(nbflow_home: Path, tmp_path: Path) -> None:
    script = (
        "id -u; if touch /etc/nbflow-probe 2>/dev/null; then echo wrote; else echo refused; fi; "
        "cat /proc/1/cmdline | tr '\\0' ' '"
    )
    r = run(manifest([sh("main", script)]), tmp_path)
    out = results(r)[r.id]
    assert out is not None
    uid, written, init = out.split("\n")
    assert uid == str(POD_UID)
    assert written == "refused" and not Path("/etc/nbflow-probe").exists()
    assert "nbflow.engine.sandbox" in init  # its own PID namespace: PID 1 is the pod's


def test_a_steps_processes_end_with_it_even_in_another_session(
    nbflow_home: Path, tmp_path: Path
) -> None:
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"}}
    loaded = write_objects(tmp_path, claim)
    step = sh("main", "setsid sh -c 'sleep 2; echo alive > /data/marker' & echo started")
    step["container"]["volumeMounts"] = [{"name": "d", "mountPath": "/data"}]
    wf = manifest([step], volumes=[{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}])
    r = run(wf, tmp_path, load=[loaded])
    assert r.phase == "Succeeded", r.summary()
    time.sleep(3)  # longer than the child needed: it would have written by now
    assert (nbflow_home / "volumes" / "data").is_dir()
    assert not (nbflow_home / "volumes" / "data" / "marker").exists()


@pytest.mark.parametrize(
    ("path", "what"),
    [("/tmp/../../etc/hostname", "output artifact path"), ("relative/out", "output artifact")],
)
def test_paths_leaving_the_pod_are_refused_before_anything_runs(
    nbflow_home: Path, tmp_path: Path, path: str, what: str
) -> None:
    step = sh("main", "echo x", outputs={"artifacts": [{"name": "o", "path": path}]})
    with pytest.raises(ManifestError, match=what):
        run(manifest([step]), tmp_path)
    assert not (nbflow_home / "runs").exists() or not list((nbflow_home / "runs").iterdir())


def test_a_name_that_is_not_a_kubernetes_name_is_refused(nbflow_home: Path, tmp_path: Path) -> None:
    wf = manifest([sh("main", "echo x")])
    wf["metadata"] = {"name": "../../F/x"}
    with pytest.raises(ManifestError, match="not a Kubernetes name"):
        run(wf, tmp_path)
    assert not (nbflow_home / "F").exists() and not (nbflow_home.parent / "F").exists()


def test_host_path_volumes_need_the_flag(nbflow_home: Path, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "in.txt").write_text("from the host")
    step = sh("main", "cat /h/in.txt")
    step["container"]["volumeMounts"] = [{"name": "h", "mountPath": "/h"}]
    wf = manifest([step], volumes=[{"name": "h", "hostPath": {"path": str(shared)}}])
    with pytest.raises(ManifestError, match="--allow-host-path"):
        run(wf, tmp_path)
    shared.chmod(0o755)
    r = run(wf, tmp_path, allow_host_path=True)
    assert results(r)[r.id] == "from the host"


def test_an_image_entrypoint_needs_an_image_command(nbflow_home: Path, tmp_path: Path) -> None:
    tmpl = {"name": "main", "container": {"image": "tool:1", "args": ["hello"]}}
    with pytest.raises(ManifestError, match="--image-command tool:1=COMMAND"):
        run(manifest([tmpl]), tmp_path)
    r = run(manifest([tmpl]), tmp_path, image_commands={"tool": "echo said"})
    assert results(r)[r.id] == "said hello"


def test_a_missing_program_is_one_line(nbflow_home: Path, tmp_path: Path) -> None:
    tmpl = {"name": "main", "container": {"image": "x", "command": ["no-such-program-xyz"]}}
    r = run(manifest([tmpl]), tmp_path)
    node = r.nodes[r.id]
    assert node["phase"] == "Failed"
    assert node["message"] == "main: executable file not found in $PATH: no-such-program-xyz"


def test_scripts_are_executable_and_run_in_the_pods_root(
    nbflow_home: Path, tmp_path: Path
) -> None:
    script = {"name": "main", "script": {"image": "x", "command": ["sh"], "source":
              "test -x /argo/staging/script && pwd && echo made > result.txt"},
              "outputs": {"parameters": [{"name": "r", "valueFrom": {"path": "/result.txt"}}]}}
    r = run(manifest([script]), tmp_path)
    assert results(r)[r.id] == "/"
    assert r.nodes[r.id]["outputs"]["parameters"][0] == {"name": "r", "value": "made"}


def test_loaded_objects_config_maps_secrets_claims_and_templates(
    nbflow_home: Path, tmp_path: Path
) -> None:
    secret_value = "s3cr3t-value-never-written"
    loaded = write_objects(
        tmp_path,
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"},
         "data": {"msg": "from the config map"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sec"},
         "stringData": {"token": secret_value}},
        {"apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTemplate",
         "metadata": {"name": "lib"}, "spec": {"templates": [
             {"name": "hash", "inputs": {"parameters": [{"name": "m"}]},
              "container": {"image": "x", "command": ["sh", "-c",
                            "echo {{inputs.parameters.m}}; printf %s \"$T\" | sha256sum"],
                            "env": [{"name": "T", "valueFrom": {
                                "secretKeyRef": {"name": "sec", "key": "token"}}}]}}]}},
    )
    main = {"name": "main", "steps": [[{
        "name": "s", "templateRef": {"name": "lib", "template": "hash"},
        "arguments": {"parameters": [{"name": "m", "value": "{{workflow.parameters.p}}"}]}}]]}
    wf = manifest([main], arguments={"parameters": [
        {"name": "p", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "msg"}}}]})
    r = run(wf, tmp_path, load=[loaded])
    assert r.phase == "Succeeded", r.summary()
    digest = hashlib.sha256(secret_value.encode()).hexdigest()
    assert results(r)["s"] == f"from the config map\n{digest}  -"
    for record in (nbflow_home / "runs" / r.id).glob("*.json"):
        assert secret_value not in record.read_text()


def test_a_missing_config_map_is_refused_naming_it(nbflow_home: Path, tmp_path: Path) -> None:
    wf = manifest([sh("main", "echo {{workflow.parameters.p}}")], arguments={"parameters": [
        {"name": "p", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k"}}}]})
    with pytest.raises(ManifestError, match="ConfigMap 'nope' is not loaded: .*--load FILE"):
        run(wf, tmp_path)


def test_a_claim_keeps_its_files_across_runs(nbflow_home: Path, tmp_path: Path) -> None:
    loaded = write_objects(tmp_path, {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                      "metadata": {"name": "log"}})
    step = sh("main", "echo run >> /v/log; wc -l < /v/log")
    step["container"]["volumeMounts"] = [{"name": "v", "mountPath": "/v"}]
    wf = manifest([step], volumes=[{"name": "v", "persistentVolumeClaim": {"claimName": "log"}}])
    first, second = (run(wf, tmp_path, load=[loaded]) for _ in range(2))
    assert (results(first)[first.id], results(second)[second.id]) == ("1", "2")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sidecars_daemons_init_containers_and_container_sets(
    nbflow_home: Path, tmp_path: Path
) -> None:
    port = _free_port()
    server = ["python3", "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    probe = {"httpGet": {"path": "/", "port": port}}
    daemon = {"name": "server", "daemon": True,
              "container": {"image": "x", "command": server, "readinessProbe": probe}}
    client = sh("client", f"curl -s -o /dev/null -w '%{{http_code}}' "
                          f"http://{{{{inputs.parameters.ip}}}}:{port}/",
                inputs={"parameters": [{"name": "ip"}]})
    web = _free_port()  # the daemon still serves on `port` while its steps template goes on
    side = sh("side", f"until curl -s -o /dev/null http://127.0.0.1:{web}/; do sleep 0.1; "
                      "done; cat /shared/init; echo main")
    side["container"]["command"][-1] = side["container"]["command"][-1]
    side["container"]["volumeMounts"] = [{"name": "w", "mountPath": "/shared"}]
    side["sidecars"] = [{"name": "web", "image": "x",
                         "command": ["python3", "-m", "http.server", str(web), "--bind",
                                     "127.0.0.1"]}]
    side["initContainers"] = [{"name": "init", "image": "x", "mirrorVolumeMounts": True,
                               "command": ["sh", "-c", "echo from-init > /shared/init"]}]
    side["volumes"] = [{"name": "w", "emptyDir": {}}]
    group = {"name": "group", "containerSet": {"volumeMounts": [{"name": "w", "mountPath": "/w"}],
             "containers": [
                 {"name": "a", "image": "x", "command": ["sh", "-c", "echo a > /w/f"]},
                 {"name": "main", "image": "x", "command": ["sh", "-c", "cat /w/f; echo b"],
                  "dependencies": ["a"]}]},
             "volumes": [{"name": "w", "emptyDir": {}}]}
    main = {"name": "main", "steps": [
        [{"name": "server", "template": "server"}],
        [{"name": "client", "template": "client",
          "arguments": {"parameters": [{"name": "ip", "value": "{{steps.server.ip}}"}]}}],
        [{"name": "side", "template": "side"}, {"name": "group", "template": "group"}],
    ]}
    r = run(manifest([main, daemon, client, side, group]), tmp_path)
    assert r.phase == "Succeeded", r.summary()
    out = results(r)
    assert out["client"] == "200"
    assert out["side"] == "from-init\nmain"
    assert out["group"] == "a\nb"
    by_name = {n["displayName"]: n for n in r.nodes.values()}
    assert by_name["server"]["phase"] == "Succeeded"  # ended with its scope
    assert [by_name[c]["type"] for c in ("a", "main")] == ["Container", "Container"]
    assert json.dumps(r.workflow).count('"daemoned"') == 0


def test_an_init_container_that_fails_fails_the_pod(nbflow_home: Path, tmp_path: Path) -> None:
    step = sh("main", "echo never")
    step["initContainers"] = [{"name": "prep", "image": "x", "command": ["sh", "-c", "exit 3"]}]
    r = run(manifest([step]), tmp_path)
    assert r.nodes[r.id]["phase"] == "Failed"
    assert r.nodes[r.id]["message"] == "init container prep failed: Error (exit code 3)"


def _subpath_workflow() -> dict[str, Any]:
    make = sh("make", "mkdir -p /tmp/d; echo one > /tmp/d/a.txt; echo two > /tmp/d/b.txt",
              outputs={"artifacts": [{"name": "d", "path": "/tmp/d", "archive": {"none": {}}}]})
    use = {"name": "use", "inputs": {"artifacts": [{"name": "m", "path": "/tmp/m"}]},
           "container": {"image": "alpine", "command": ["cat", "/tmp/m"]}}
    arg = {"name": "m", "from": "{{steps.make.outputs.artifacts.d}}", "subPath": "a.txt"}
    main = {"name": "main", "steps": [
        [{"name": "make", "template": "make"}],
        [{"name": "wait", "template": "wait"}],
        [{"name": "use", "template": "use", "arguments": {"artifacts": [arg]}}],
    ]}
    return manifest([main, make, {"name": "wait", "suspend": {}}, use])


def test_a_subpath_input_is_checked_against_the_whole_artifact(
    nbflow_home: Path, tmp_path: Path, eventually: Any
) -> None:
    def suspended(r: Any) -> bool:
        return any(n["type"] == "Suspend" and n["phase"] == "Running"
                   for n in r.driver.nodes.values())

    intact = api.run_workflow(_subpath_workflow(), config=load_config(cache=False),
                              workdir=tmp_path, host_exec=True, wait=False)
    eventually(lambda: suspended(intact), 60, "the run to reach its suspend node")
    intact.driver.resume(["wait"])
    intact.driver.wait(120)
    assert intact.driver.phase == "Succeeded"
    assert results(api.get_run(intact.id))["use"] == "one"

    tampered = api.run_workflow(_subpath_workflow(), config=load_config(cache=False),
                                workdir=tmp_path, host_exec=True, wait=False)
    eventually(lambda: suspended(tampered), 60, "the run to reach its suspend node")
    (other,) = (nbflow_home / "artifacts").rglob(f"*{tampered.id}*/d/b.txt")
    other.write_text("planted\n")  # not the part the step reads, but part of what was written
    tampered.driver.resume(["wait"])
    tampered.driver.wait(120)
    use = [n for n in api.get_run(tampered.id).nodes.values() if n["displayName"] == "use"]
    assert use[0]["phase"] == "Error"
    assert "input 'm'" in use[0]["message"] and "changed after it was written" in use[0]["message"]
