"""Single-machine clusters that listen on loopback only: a local Ray instance and a Dask ``LocalCluster``.

Ray, by default, advertises (and its gRPC servers bind to) the machine's outward address even when told
``_node_ip_address="127.0.0.1"``: it replaces a loopback address by the remotely reachable one unless
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (Ray's own switch for a one-machine cluster), which must be in the
environment before ``ray`` is imported, since Ray reads it at import and its processes inherit it. With it,
every listener of the GCS, raylet, object manager, workers and runtime-env agent is on 127.0.0.1.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from ._extras import require

LOOPBACK = "127.0.0.1"
RAY_LOOPBACK_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # keep 127.0.0.1 as the node address (no outward address)
    "RAY_USAGE_STATS_ENABLED": "0",  # no usage report sent off the machine
}


def init_loopback_ray(num_cpus: int | None = None, object_store_memory: int | None = 200 * 1024**2,
                      **init_kwargs: Any) -> Any:
    """``ray.init`` of a new local Ray instance whose processes all listen on 127.0.0.1, without dashboard.

    Returns what ``ray.init`` returns; call ``ray.shutdown()`` when done. RuntimeError if ``ray`` was imported
    before without ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (then Ray would advertise the outward address).
    """
    os.environ.update(RAY_LOOPBACK_ENV)
    already = "ray" in sys.modules
    ray = require("ray")
    constants = sys.modules.get("ray._private.ray_constants")
    if already and constants is not None and getattr(constants, "ENABLE_RAY_CLUSTER", False):
        raise RuntimeError("ray was imported before init_loopback_ray() without "
                           "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 in the environment, so it would advertise this "
                           "machine's outward address: set it before importing ray (or import ray after)")
    options = {"address": "local", "num_cpus": num_cpus, "include_dashboard": False,
               "dashboard_host": LOOPBACK, "_node_ip_address": LOOPBACK,
               "object_store_memory": object_store_memory, **init_kwargs}
    context = ray.init(**options)
    try:
        node_ip = ray.util.get_node_ip_address()
        advertised = sorted({n["NodeManagerAddress"] for n in ray.nodes()})
        if node_ip != LOOPBACK or advertised != [LOOPBACK]:
            raise RuntimeError(f"Ray came up on {node_ip} (nodes advertise {advertised}), not {LOOPBACK}")
    except BaseException:
        ray.shutdown()
        raise
    return context


def loopback_dask_cluster(n_workers: int = 2, threads_per_worker: int = 1, **cluster_kwargs: Any) -> Any:
    """A ``distributed.LocalCluster`` of worker processes, scheduler, nannies and workers on 127.0.0.1, no
    dashboard. Use it as a context manager (or call ``close()``)."""
    distributed = require("distributed")
    options = {"host": LOOPBACK, "n_workers": n_workers, "threads_per_worker": threads_per_worker,
               "processes": True, "dashboard_address": None, **cluster_kwargs}
    return distributed.LocalCluster(**options)
