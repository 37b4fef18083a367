"""Kubernetes placement for the accelerator steps (`lora_adapter`, `rl_adapter`, `evaluation_report`): one GPU on a GPU node.

`ACCELERATOR_OP_TAGS` goes on these assets as `op_tags=`. Locally the tag is inert; on
Kubernetes with `dagster_k8s.k8s_job_executor` each step runs in its own pod and dagster-k8s
merges `dagster-k8s/config` into that pod (docs/deployment.md).
"""

from typing import Any

# The pool shared by the assets that need the accelerator (training, generation). Its limit
# (1: one of them at a time, across runs) is the instance's `concurrency: pools: default_limit`
# in dagster.yaml, or `dagster instance concurrency set accelerator N` for a bigger machine.
ACCELERATOR_POOL = "accelerator"

K8S_CONFIG_TAG = "dagster-k8s/config"  # the tag dagster-k8s reads; the value is merged into the step's Job/Pod
GPU_RESOURCE = "nvidia.com/gpu"  # extended resource advertised by NVIDIA's device plugin
GPU_NODE_LABEL = {"nvidia.com/gpu.present": "true"}  # set by NVIDIA GPU feature discovery on GPU nodes
GPU_TAINT_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}  # GPU pools are usually tainted

# Requests equal limits: a training step that is evicted for memory loses its progress since the last checkpoint.
ACCELERATOR_RESOURCES: dict[str, dict[str, str]] = {
    "requests": {"cpu": "8", "memory": "64Gi", GPU_RESOURCE: "1"},
    "limits": {"cpu": "8", "memory": "64Gi", GPU_RESOURCE: "1"},
}

ACCELERATOR_K8S_CONFIG: dict[str, Any] = {
    "container_config": {"resources": ACCELERATOR_RESOURCES},
    "pod_spec_config": {"node_selector": GPU_NODE_LABEL, "tolerations": [GPU_TAINT_TOLERATION]},
}

ACCELERATOR_OP_TAGS: dict[str, Any] = {K8S_CONFIG_TAG: ACCELERATOR_K8S_CONFIG}
