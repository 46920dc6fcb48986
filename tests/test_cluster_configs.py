"""Cluster configs stay valid for the pinned Ray and point at real entry points."""

from __future__ import annotations

import copy
import importlib.util
import shlex
from pathlib import Path

import pytest
import ray
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

CLUSTER = Path(__file__).resolve().parents[1] / "cluster"


def test_aws_cluster_yaml_passes_ray_schema():
    config = yaml.safe_load((CLUSTER / "aws.yaml").read_text())
    validate_config(prepare_config(copy.deepcopy(config)))
    assert config["head_node_type"] in config["available_node_types"]
    gpu = config["available_node_types"]["gpu_worker"]
    assert gpu["resources"]["GPU"] == 1


@pytest.mark.parametrize("name", ["raycluster.yaml", "rayjob-extract.yaml"])
def test_kuberay_manifests_match_pinned_ray(name):
    manifest = yaml.safe_load((CLUSTER / "kuberay" / name).read_text())
    assert manifest["apiVersion"] == "ray.io/v1"
    spec = manifest["spec"] if manifest["kind"] == "RayCluster" else manifest["spec"]["rayClusterSpec"]
    assert spec["rayVersion"] == ray.__version__
    workers = spec["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    assert workers["resources"]["limits"]["nvidia.com/gpu"] == "1"
    if manifest["kind"] == "RayJob":
        argv = shlex.split(manifest["spec"]["entrypoint"])
        assert argv[:2] == ["python", "-m"]
        assert importlib.util.find_spec(argv[2]) is not None, f"entrypoint module {argv[2]} does not exist"
