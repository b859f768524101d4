"""Run corpus classes in this process under an address-space limit and report as JSON.

``python -m tests.hostile.run_corpus OUT.json CLASS...``: imports everything first, then
limits the address space to what it uses plus :data:`LIMIT_BYTES` (resource.RLIMIT_AS), then
runs every case of each class, timing it. Payloads write into a marker folder if they run.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
import traceback

LIMIT_BYTES = 1 << 30


def classes() -> dict:
    from . import build_data, build_models, build_more
    return {"pickle": build_models.pickle_cases, "torchscript": build_models.torchscript_cases,
            "zip": build_models.zip_cases, "model files": build_models.model_file_cases,
            "nir": build_data.nir_cases, "runs": build_data.run_cases,
            "events": build_more.event_cases, "jets": build_more.jets_cases,
            "parameters": build_more.parameter_cases, "sweep": build_more.sweep_cases}


def _vm_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def main(out: str, names: list[str], marker_dir: str) -> None:
    import torch

    torch.set_num_threads(1)
    import spikescope.cli
    import spikescope.sweep  # noqa: F401 - imported before the address-space limit
    from spikescope.errors import SpikescopeError

    builders = classes()
    built = {n: builders[n]() for n in names}
    results = []
    resource.setrlimit(resource.RLIMIT_AS, (_vm_bytes() + LIMIT_BYTES, resource.RLIM_INFINITY))
    for cls, cases in built.items():
        for name, fn, phrase in cases:
            with tempfile.TemporaryDirectory() as tmp:
                ctx = {"tmp": tmp, "marker": os.path.join(marker_dir, f"ran-{len(results)}")}
                t0 = time.perf_counter()
                r = {"class": cls, "name": name, "phrase": phrase}
                try:
                    fn(ctx)
                    r.update(outcome="no error")
                except BaseException as e:  # noqa: BLE001 - recorded, judged by the test
                    r.update(outcome="own" if isinstance(e, SpikescopeError) else "foreign",
                             type=type(e).__name__, message=str(e)[:2000],
                             trace="" if isinstance(e, SpikescopeError)
                             else traceback.format_exc()[-1500:])
                r["seconds"] = time.perf_counter() - t0
                results.append(r)
    with open(out, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[3:], sys.argv[2])
