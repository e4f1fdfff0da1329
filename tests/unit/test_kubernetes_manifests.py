"""docker/kubernetes/: the manifests keep their contract with the CLI and each other.

No cluster is needed: the kustomization and its resources are read, the commands
the pods run are parsed by the real click commands, and the objects that name one
another (selectors, the scale target, the secret and its keys) are matched up. The
ScaledObject's query runs against a real database in
tests/integration/test_worker_demand.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from click.testing import CliRunner

from pgsched.cli import cli

REPOSITORY = Path(__file__).resolve().parents[2]
KUBERNETES = REPOSITORY / "docker" / "kubernetes"
SECRET = "pgsched-database"
# The image's user (docker/Dockerfile: useradd --uid 10001).
IMAGE_UID = 10001
# docs/sizing.md: one worker with 4 python processes, 1,000,000 no-op executions.
MEASURED_PEAK_MEBIBYTES = 160
MEASURED_PYTHON_PROCESSES = 4
BINARY_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def kustomization() -> dict[str, Any]:
    loaded = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def objects() -> dict[str, dict[str, Any]]:
    """Every object the kustomization lists, by kind (one of each kind)."""
    found: dict[str, dict[str, Any]] = {}
    for resource in kustomization()["resources"]:
        for document in yaml.safe_load_all((KUBERNETES / resource).read_text()):
            assert document["kind"] not in found, f"two {document['kind']} objects"
            found[document["kind"]] = document
    return found


def container(workload: dict[str, Any]) -> dict[str, Any]:
    (only,) = workload["spec"]["template"]["spec"]["containers"]
    assert isinstance(only, dict)
    return only


def parsed(args: list[str]) -> click.Context:
    """``pgsched ARGS`` parsed as the image's ENTRYPOINT would, without running it."""
    name, *rest = args
    return cli.commands[name].make_context(name, rest)


def worker_options(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return parsed(container(objects["Deployment"])["args"]).params


def mebibytes(quantity: str) -> float:
    match = re.fullmatch(r"(\d+)([KMG]i)", quantity)
    assert match, f"{quantity!r} is not in Ki, Mi or Gi"
    return int(match.group(1)) * BINARY_UNITS[match.group(2)] / 2**20


def pod_labels(objects: dict[str, dict[str, Any]]) -> dict[str, str]:
    labels = objects["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert isinstance(labels, dict)
    return labels


def selects_workers(selector: dict[str, str], objects: dict[str, dict[str, Any]]) -> bool:
    return bool(selector) and selector.items() <= pod_labels(objects).items()


def test_the_kustomization_lists_every_manifest_and_nothing_missing() -> None:
    listed = set(kustomization()["resources"])
    on_disk = {path.name for path in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk
    assert kustomization()["namespace"] == "pgsched"


def test_the_expected_objects_are_there(objects: dict[str, dict[str, Any]]) -> None:
    assert set(objects) == {
        "Job",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "TriggerAuthentication",
        "ScaledObject",
    }


def test_the_migration_job_runs_migrate_once_until_it_succeeds(
    objects: dict[str, dict[str, Any]],
) -> None:
    job = objects["Job"]
    assert container(job)["args"] == ["migrate"]
    parsed(container(job)["args"])
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("OnFailure", "Never")
    assert "parallelism" not in job["spec"] and "completions" not in job["spec"]


def test_worker_flags_parse_and_are_listed_by_pgsched_worker_help(
    objects: dict[str, dict[str, Any]],
) -> None:
    args = container(objects["Deployment"])["args"]
    assert args[0] == "worker"
    help_text = CliRunner().invoke(cli, ["worker", "--help"]).output
    for flag in (arg.split("=", 1)[0] for arg in args[1:]):
        assert flag in help_text, f"the Deployment passes {flag}, unknown to pgsched worker"
    options = worker_options(objects)
    assert options["log_format"] == "json"
    assert options["metrics_host"] == "0.0.0.0"


def test_workers_get_longer_to_stop_than_their_grace_period(
    objects: dict[str, dict[str, Any]],
) -> None:
    grace = objects["Deployment"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > worker_options(objects)["grace_period"]


def test_readiness_and_liveness_fetch_healthz_on_the_metrics_port(
    objects: dict[str, dict[str, Any]],
) -> None:
    worker = container(objects["Deployment"])
    ports = {port["name"]: port["containerPort"] for port in worker["ports"]}
    assert ports["metrics"] == worker_options(objects)["metrics_port"]
    for probe in ("readinessProbe", "livenessProbe"):
        get = worker[probe]["httpGet"]
        assert get["path"] == "/healthz"
        assert ports.get(get["port"], get["port"]) == ports["metrics"]
    # A stale heartbeat (a database outage) must not restart workers within a lease.
    liveness = worker["livenessProbe"]
    patience = liveness["periodSeconds"] * liveness["failureThreshold"]
    assert patience > worker_options(objects)["lease_seconds"]


def test_memory_is_requested_as_measured_for_the_python_processes_run(
    objects: dict[str, dict[str, Any]],
) -> None:
    assert worker_options(objects)["python_processes"] == MEASURED_PYTHON_PROCESSES
    resources = container(objects["Deployment"])["resources"]
    requested = mebibytes(resources["requests"]["memory"])
    assert requested >= MEASURED_PEAK_MEBIBYTES
    assert mebibytes(resources["limits"]["memory"]) >= 2 * requested
    assert resources["requests"]["cpu"]


def test_pods_run_as_the_images_user_without_privileges(
    objects: dict[str, dict[str, Any]],
) -> None:
    for kind in ("Job", "Deployment"):
        pod = objects[kind]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == IMAGE_UID
        assert pod["automountServiceAccountToken"] is False
        assert container(objects[kind])["securityContext"]["allowPrivilegeEscalation"] is False
        assert container(objects[kind])["image"] == kustomization()["images"][0]["name"]


def test_the_disruption_budget_covers_the_workers_and_keeps_one(
    objects: dict[str, dict[str, Any]],
) -> None:
    budget = objects["PodDisruptionBudget"]["spec"]
    assert selects_workers(budget["selector"]["matchLabels"], objects)
    assert 1 <= budget["minAvailable"] < objects["ScaledObject"]["spec"]["minReplicaCount"]


def test_the_network_policy_opens_only_the_metrics_port_of_the_workers(
    objects: dict[str, dict[str, Any]],
) -> None:
    policy = objects["NetworkPolicy"]["spec"]
    assert selects_workers(policy["podSelector"]["matchLabels"], objects)
    assert policy["policyTypes"] == ["Ingress"]
    ports = [port for rule in policy["ingress"] for port in rule["ports"]]
    assert ports == [{"protocol": "TCP", "port": worker_options(objects)["metrics_port"]}]
    assert all(rule["from"] for rule in policy["ingress"]), "a rule without from admits all"


def test_the_metrics_service_reaches_each_worker(objects: dict[str, dict[str, Any]]) -> None:
    service = objects["Service"]["spec"]
    assert service["clusterIP"] == "None"
    assert selects_workers(service["selector"], objects)
    assert [port["targetPort"] for port in service["ports"]] == ["metrics"]


def test_keda_scales_the_worker_deployment_on_worker_demand_per_concurrency(
    objects: dict[str, dict[str, Any]],
) -> None:
    scaled = objects["ScaledObject"]["spec"]
    assert scaled["scaleTargetRef"]["name"] == objects["Deployment"]["metadata"]["name"]
    assert scaled["minReplicaCount"] >= 1, "a cron needs a worker to claim the next slot"
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "postgresql"
    assert re.fullmatch(r"SELECT pgsched\.worker_demand\(.*\)", trigger["metadata"]["query"])
    assert int(trigger["metadata"]["targetQueryValue"]) == worker_options(objects)["concurrency"]
    authentication = objects["TriggerAuthentication"]
    assert trigger["authenticationRef"]["name"] == authentication["metadata"]["name"]
    (reference,) = authentication["spec"]["secretTargetRef"]
    assert reference == {"parameter": "connection", "name": SECRET, "key": "scaler-url"}


def test_every_secret_key_used_is_one_the_kustomization_says_to_create(
    objects: dict[str, dict[str, Any]],
) -> None:
    documented = set(
        re.findall(r"--from-literal=([\w-]+)=", (KUBERNETES / "kustomization.yaml").read_text())
    )
    used = {"scaler-url"}
    for kind in ("Job", "Deployment"):
        for variable in container(objects[kind])["env"]:
            reference = variable["valueFrom"]["secretKeyRef"]
            assert reference["name"] == SECRET
            used.add(reference["key"])
            # Only the listen URL may be missing: the worker then polls.
            assert reference.get("optional", False) == (reference["key"] == "listen-url")
    assert used == documented
