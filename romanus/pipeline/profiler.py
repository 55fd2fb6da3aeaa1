"""Profile the pipeline's torch modules: parameters, FLOPs, output shapes and bytes, measured
latency, and the device latencies the simulator uses.

FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` on the meta device (instant, no
memory); latency is measured on real tensors with random weights (warm-up, then the median
and 90th percentile over repeats, with one torch thread and with all). Each module's
``latency_ms`` (what presets use) is either calibrated to the DRIVE PX2 point of the
calibration block (``px2``: scaled by FLOPs from ``detector_ms``, exactly as
:class:`PipelineProfile` does without a file) or the measured median on the profiling device
(``measured``: e.g. for a GPU server).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from romanus import __version__
from romanus.config import PipelineConfig, parse_split_point
from romanus.pipeline import arch
from romanus.pipeline import torch_modules as tm
from romanus.pipeline.profile import PROFILE_FORMAT, PROFILE_FORMAT_VERSION, PipelineProfile

__all__ = ["ModuleSpec", "module_specs", "profile_pipeline"]


@dataclass(frozen=True)
class ModuleSpec:
    name: str
    make: Callable[[], nn.Module]
    input_shape: tuple[int, ...]
    head: bool = False  # a bottleneck head (stem + encoder)


def module_specs(pipeline: PipelineConfig, analytic: PipelineProfile) -> list[ModuleSpec]:
    """Every DNN module the pipeline's operating modes use, with its input shape."""
    h, w = pipeline.input_height, pipeline.input_width
    stem_shape = analytic.stem_shape
    specs: list[ModuleSpec] = []
    channels = sorted({s.input_channels for s in pipeline.stems.values()})
    for c in channels:
        specs.append(ModuleSpec(PipelineProfile.stem_name(c), functools.partial(tm.Stem, c), (1, c, h, w)))
    for name in pipeline.split_points:
        sp = parse_split_point(name)
        if sp.kind != "bottleneck":
            continue
        for c in channels:
            specs.append(
                ModuleSpec(
                    PipelineProfile.head_name(sp, c),
                    functools.partial(tm.BottleneckHead, sp.channels, sp.bits, c),
                    (1, c, h, w),
                    head=True,
                )
            )
        code = analytic.decoder(sp)
        code_hw = (stem_shape[1] + 1) // 2, (stem_shape[2] + 1) // 2
        specs.append(
            ModuleSpec(
                code.name, functools.partial(tm.Decoder, sp.channels, stem_shape[1:]), (1, sp.channels, *code_hw)
            )
        )
    fan_in = sorted({len(s) for s in pipeline.branches.values() if len(s) > 1})
    for n in fan_in:
        specs.append(ModuleSpec(f"merge-{n}", functools.partial(tm.Merge, n), (1, 64 * n, *stem_shape[1:])))
    shape = stem_shape
    for k in (2, 3, 4):
        specs.append(ModuleSpec(f"layer{k}", functools.partial(tm.TailLayer, k), (1, *shape)))
        shape = arch.tail_layer(k, shape).output_shape
    specs.append(ModuleSpec("rpn", lambda: tm.RPNHead(shape[0], pipeline.rpn_anchors), (1, *shape)))
    roi = pipeline.roi_output_size
    specs.append(
        ModuleSpec(
            f"box_head-{pipeline.rpn_proposals}",
            lambda: tm.BoxHead(pipeline.num_classes, pipeline.box_head_dim, shape[0], roi),
            (pipeline.rpn_proposals, shape[0], roi, roi),
        )
    )
    return specs


def _count(spec: ModuleSpec) -> tuple[int, int, tuple[int, ...]]:
    """(parameters, FLOPs, output shape without the batch) on the meta device."""
    with torch.device("meta"):
        module = spec.make()
        x = torch.empty(spec.input_shape)
        with FlopCounterMode(display=False) as counter:
            y = module(x)
    params = sum(p.numel() for p in module.parameters())
    return params, int(counter.get_total_flops()), tuple(int(d) for d in y.shape[1:])


def _measure(spec: ModuleSpec, device: str, repeats: int, threads: int) -> dict[str, float]:
    torch.set_num_threads(threads)
    module = spec.make().to(device).eval()
    x = torch.randn(spec.input_shape, device=device)
    times = []
    with torch.inference_mode():
        for i in range(repeats + 2):  # two warm-up runs
            if device == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            module(x)
            if device == "cuda":
                torch.cuda.synchronize()
            if i >= 2:
                times.append((time.perf_counter() - t) * 1000.0)
    times.sort()
    p90 = times[min(len(times) - 1, round(0.9 * (len(times) - 1)))]
    return {"median_ms": statistics.median(times), "p90_ms": p90}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def profile_pipeline(
    pipeline: PipelineConfig,
    *,
    device: Literal["cpu", "cuda"] = "cpu",
    repeats: int = 5,
    calibrate: Literal["px2", "measured"] = "px2",
    measure: bool = True,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """The profile of every module of ``pipeline`` (the content of a profile file)."""
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available")
    # the MAC-calibrated PX2 latencies of the same architecture (ignoring any profile file)
    analytic = PipelineProfile(dataclasses.replace(pipeline, profile=None))
    analytic.table()
    all_threads = torch.get_num_threads()
    modules: dict[str, Any] = {}
    for spec in module_specs(pipeline, analytic):
        params, flops, out_shape = _count(spec)
        count = 1
        for d in out_shape:
            count *= d
        entry: dict[str, Any] = {
            "params": params,
            "flops": flops,
            "macs": flops // 2,
            "input_shape": list(spec.input_shape),
            "output_shape": list(out_shape),
            "output_bytes": {"fp32": count * 4, "fp16": count * 2, "int8": count},
        }
        if measure:
            entry["measured"] = {
                "threads_1": _measure(spec, device, repeats, 1),
                f"threads_{all_threads}": _measure(spec, device, repeats, all_threads),
            }
            torch.set_num_threads(all_threads)
        if calibrate == "px2":
            entry["latency_ms"] = analytic.analytic_ms(spec.name)
        else:
            if not measure:
                raise ValueError("calibrate=measured needs measurement")
            entry["latency_ms"] = entry["measured"][f"threads_{all_threads}"]["median_ms"]
        modules[spec.name] = entry
        if progress is not None:
            progress(1)
    cal = pipeline.calibration
    return {
        "format": PROFILE_FORMAT,
        "format_version": PROFILE_FORMAT_VERSION,
        "romanus_version": __version__,
        "created_utc": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "provenance": {
            "device": device,
            "device_name": torch.cuda.get_device_name() if device == "cuda" else _cpu_model(),
            "torch": torch.__version__,
            "threads_all": all_threads,
            "repeats": repeats,
            "batch": 1,
        },
        "architecture": {
            "input_height": pipeline.input_height,
            "input_width": pipeline.input_width,
            "rpn_proposals": pipeline.rpn_proposals,
            "rpn_anchors": pipeline.rpn_anchors,
            "num_classes": pipeline.num_classes,
            "box_head_dim": pipeline.box_head_dim,
            "roi_output_size": pipeline.roi_output_size,
        },
        "calibration": {
            "method": calibrate,
            "detector_ms": cal.detector_ms,
            "note": (
                f"latency_ms scaled by FLOPs from the detector calibration point, heads included ({cal.note})"
                if calibrate == "px2"
                else f"latency_ms is the measured median on {device} with all threads"
            ),
        },
        "modules": modules,
    }
