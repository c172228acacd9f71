"""The deployment files (deploy/): no Docker engine or cluster exists here, so each is checked by
the tool that knows its format (hadolint, `docker-compose config`, kubernetes-validate
--strict), each check shown to fail on a broken copy, and every command line in them parsed by
VegaFS's own CLI, so that a renamed option breaks this test rather than a deployment."""

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import Vegafs

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
BIN = Path(sys.executable).parent
COMPOSE = REPO / ".venv-compose" / "bin" / "docker-compose"  # scripts/ensure-compose.sh
K8S_VERSION = "1.30.0"
K8S = sorted(p for p in (DEPLOY / "k8s").glob("*.yaml") if p.name != "kustomization.yaml")


def tool(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} missing: run `make deploy-check` (or `make test`)")
    return path


def run(*cmd: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip


def hadolint(dockerfile: Path) -> subprocess.CompletedProcess[str]:
    return run(tool(BIN / "hadolint"), "--no-color", "--config", DEPLOY / "hadolint.yaml",
               dockerfile)  # fmt: skip


def test_the_dockerfile_passes_hadolint_and_a_careless_one_does_not(tmp_path: Path) -> None:
    done = hadolint(DEPLOY / "Dockerfile")
    assert done.returncode == 0, done.stdout + done.stderr
    careless = tmp_path / "Dockerfile"
    careless.write_text("FROM python:latest\nRUN cd /src && pip install .\n")
    failed = hadolint(careless)
    assert failed.returncode == 1
    rules = {line.split()[1] for line in failed.stdout.splitlines()}
    assert rules == {"DL3007", "DL3003", "DL3042"}, failed.stdout  # latest, cd, pip cache


def test_the_dockerfile_copies_what_the_build_needs_and_runs_as_non_root() -> None:
    lines = (DEPLOY / "Dockerfile").read_text().splitlines()
    copied = [w for line in lines if line.startswith("COPY ") and "--from" not in line
              for w in line.split()[1:-1]]  # fmt: skip
    assert copied == ["Cargo.toml", "Cargo.lock", "pyproject.toml", "README.md", "crates",
                      "python"]  # fmt: skip
    assert all((REPO / c).exists() for c in copied)
    # What maturin reads (pyproject's [tool.maturin]) is in what is copied.
    maturin = _toml(REPO / "pyproject.toml")["tool"]["maturin"]
    assert maturin["manifest-path"].split("/")[0] in copied
    assert maturin["python-source"] in copied
    assert [line for line in lines if line.startswith("USER ")] == ["USER 10001:10001"]
    assert sum(line.startswith("FROM ") for line in lines) == 2  # build, then runtime


def compose_config(path: Path) -> subprocess.CompletedProcess[str]:
    return run(tool(COMPOSE), "-f", path, "config", cwd=DEPLOY)


def test_compose_resolves_to_the_five_services(tmp_path: Path) -> None:
    done = compose_config(DEPLOY / "compose.yaml")
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(done.stdout)
    services = config["services"]
    assert sorted(services) == ["api", "migrate", "postgres", "redis", "worker"]
    ours = {name: services[name] for name in ["api", "migrate", "worker"]}
    for name, service in ours.items():
        env = service["environment"]
        assert env["VEGAFS_ROOTS"] == "/data", name
        assert env["VEGAFS_DATABASE_URL"] == "postgresql://vegafs:vegafs@postgres:5432/vegafs"
        assert env["VEGAFS_REDIS_URL"] == "redis://redis:6379/0"
        mounts = [v.rsplit(":", 2)[1] if isinstance(v, str) else v["target"]
                  for v in service["volumes"]]  # fmt: skip
        assert mounts == ["/data", "/var/lib/vegafs"], name
    assert ours["migrate"]["command"] == ["db", "upgrade"]
    for name in ["api", "worker"]:
        needs = ours[name]["depends_on"]
        assert needs["migrate"]["condition"] == "service_completed_successfully"
        assert needs["redis"]["condition"] == "service_healthy"
    assert ours["worker"]["deploy"]["replicas"] == 2
    assert services["postgres"]["volumes"][0].startswith("pgdata:")
    # A misspelt key is refused: the check can fail.
    broken = tmp_path / "compose.yaml"
    broken.write_text((DEPLOY / "compose.yaml").read_text().replace("depends_on:", "depend_on:"))
    failed = compose_config(broken)
    assert failed.returncode == 1
    assert "depend_on" in failed.stderr


def kubernetes_validate(*paths: Path) -> subprocess.CompletedProcess[str]:
    cli = tool(BIN / "kubernetes-validate")
    return run(cli, "--strict", "--quiet", "-k", K8S_VERSION, *paths)


def manifests() -> list[dict[str, Any]]:
    """The resources of deploy/k8s (the kustomization that lists them aside)."""
    docs = []
    for path in K8S:
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def test_the_kubernetes_manifests_are_valid_and_a_wrong_field_is_not(tmp_path: Path) -> None:
    done = kubernetes_validate(*K8S)
    assert done.returncode == 0, done.stdout + done.stderr
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in manifests())
    assert kinds == [
        ("ConfigMap", "vegafs"),
        ("Deployment", "vegafs-api"),
        ("Deployment", "vegafs-worker"),
        ("HorizontalPodAutoscaler", "vegafs-worker"),
        ("Job", "vegafs-migrate"),
        ("PersistentVolumeClaim", "vegafs-data"),
        ("PersistentVolumeClaim", "vegafs-state"),
        ("Secret", "vegafs"),
        ("Service", "vegafs-api"),
    ]
    # The kustomization lists every resource but the example Secret (made by hand).
    listed = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in K8S if p.name != "secret.example.yaml")
    wrong = tmp_path / "api.yaml"
    api = (DEPLOY / "k8s" / "api.yaml").read_text()
    wrong.write_text(api.replace("readinessProbe", "readynessProbe"))
    failed = kubernetes_validate(wrong)
    assert failed.returncode == 1
    assert "readynessProbe" in failed.stdout + failed.stderr


def _toml(path: Path) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(path.read_text())


def command_lines() -> list[tuple[str, list[str]]]:
    """Every VegaFS command line of the deployment files: (where, args after `vegafs`)."""
    out: list[tuple[str, list[str]]] = []
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    for name, service in compose["services"].items():
        if service.get("image") == "vegafs:latest":
            out.append((f"compose {name}", service["command"]))
    for doc in manifests():
        spec = doc.get("spec", {}).get("template", {}).get("spec", {})
        for container in spec.get("containers", []):
            out.append((f"k8s {doc['metadata']['name']}", container["args"]))
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    cmd = next(line for line in dockerfile.splitlines() if line.startswith("CMD "))
    out.append(("Dockerfile CMD", yaml.safe_load(cmd.removeprefix("CMD "))))
    return out


def test_every_command_line_parses_with_the_cli(vegafs: Vegafs) -> None:
    lines = command_lines()
    assert [where for where, _ in lines] == [
        "compose migrate", "compose api", "compose worker", "k8s vegafs-api",
        "k8s vegafs-migrate", "k8s vegafs-worker", "Dockerfile CMD",
    ]  # fmt: skip
    # With --help appended the command parses every option (an unknown one fails: exit 2) and
    # then shows its help (exit 0) instead of running.
    for where, args in lines:
        done = vegafs.run(*args, "--help", cwd=REPO)
        assert done.returncode == 0, f"{where}: {done.stderr}"
        assert "Usage: vegafs" in done.text, where
    wrong = vegafs.run("serve", "--hots", "0.0.0.0", "--help", cwd=REPO)
    assert wrong.returncode == 2
    assert "No such option: --hots" in wrong.stderr


def test_the_worker_and_api_see_the_same_roots_and_state() -> None:
    """Every pod that runs jobs or serves them mounts the data at VEGAFS_ROOTS and the shared
    state volume at VEGAFS_DATA_DIR (the journal's backups)."""
    config = next(d for d in manifests() if d["kind"] == "ConfigMap")
    assert config["data"]["VEGAFS_ROOTS"] == "/data"
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "VEGAFS_DATA_DIR=/var/lib/vegafs" in dockerfile
    for doc in manifests():
        if doc["kind"] != "Deployment":
            continue
        pod = doc["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        claims = {v["name"]: v.get("persistentVolumeClaim", {}).get("claimName")
                  for v in pod["volumes"]}  # fmt: skip
        assert claims[mounts["/data"]] == "vegafs-data", doc["metadata"]["name"]
        assert claims[mounts["/var/lib/vegafs"]] == "vegafs-state", doc["metadata"]["name"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert pod["securityContext"]["runAsUser"] == 10001


def test_the_readiness_probe_is_the_apis_readyz() -> None:
    api = next(
        d for d in manifests() if d["kind"] == "Deployment" and "api" in d["metadata"]["name"]
    )
    (container,) = api["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
