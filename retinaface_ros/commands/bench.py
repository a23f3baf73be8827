"""``retinaface bench``: time the inference pipeline (stages, total, FPS, memory) and print a JSON table."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from retinaface_ros.commands import UsageError
from retinaface_ros.model.config import BACKBONES

DEVICES = ("cpu", "cuda")


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def register(subparsers: argparse._SubParsersAction) -> None:
    from retinaface_ros.benchmark.matrix import EXTRA_RUNTIMES, INPUTS, RUNTIMES

    parser = subparsers.add_parser(
        "bench",
        help="benchmark inference (JSON table)",
        description=(
            "Median / p90 ms of preprocess, forward, postprocess and the whole detect call, FPS and memory, "
            "for each backbone × device × runtime × input × batch, next to a port of the public reference "
            "pipeline. Warm-up excluded, pipelines of a group timed round-robin."
        ),
    )
    parser.add_argument("--backbones", type=_csv, default=list(BACKBONES), help="mnet,resnet")
    parser.add_argument(
        "--devices", type=_csv, default=None, help="cpu,cuda (default: cpu and cuda if present)"
    )
    parser.add_argument(
        "--runtimes", type=_csv, default=list(RUNTIMES), help=",".join(RUNTIMES + EXTRA_RUNTIMES)
    )
    parser.add_argument("--inputs", type=_csv, default=list(INPUTS), help=",".join(INPUTS))
    parser.add_argument("--batches", type=_csv, default=None, help="batch sizes (default: 1; 1,8 on cuda)")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per pipeline (default 20)")
    parser.add_argument(
        "--warmup", type=int, default=3, help="untimed warm-up runs, ≥ 1: they count the faces (default 3)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--levers", action="store_true", help="also measure each speed lever separately")
    parser.add_argument("--weights", type=Path, default=None, help="mnet .pth (default: shared pretrained)")
    parser.add_argument("--image", type=Path, default=None, help="photo to cut frames from (default selfie)")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON to this file")
    parser.add_argument("--json", action="store_true", help="print JSON only (the default output)")
    parser.add_argument("--plot", type=Path, default=None, help="also draw the timing table (PNG)")
    parser.add_argument(
        "--from-json", type=Path, default=None, help="measure nothing: --plot a report saved with --out"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.plot is not None:
        import matplotlib  # noqa: F401 - missing: one line before the work, not a traceback after it

        from retinaface_ros.io.atomic_files import check_output_file

        if args.plot.suffix.lower() != ".png":
            raise UsageError(f"--plot writes a PNG: give a .png path, got {args.plot}")
        check_output_file(args.plot)  # refused before the benchmark runs, not after
    if args.from_json is not None:
        return _plot_saved(args)
    import torch

    from retinaface_ros.benchmark import matrix, runner
    from retinaface_ros.io.atomic_files import check_output_file

    if args.out is not None:
        check_output_file(args.out)  # refused before the benchmark runs, not after

    devices = args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    for name, values, allowed in (
        ("backbones", args.backbones, BACKBONES),
        ("devices", devices, DEVICES),
        ("runtimes", args.runtimes, matrix.RUNTIMES + matrix.EXTRA_RUNTIMES),
        ("inputs", args.inputs, tuple(matrix.INPUTS)),
    ):
        bad = [v for v in values if v not in allowed]
        if bad or not values:
            raise UsageError(f"--{name}: unknown {bad or 'empty'}; choose from {','.join(allowed)}")
    if "cuda" in devices and not torch.cuda.is_available():
        raise UsageError("--devices cuda: PyTorch sees no CUDA GPU")
    if args.runs < 1 or args.warmup < 1:
        raise UsageError("--runs and --warmup must be ≥ 1 (the warm-up also counts the faces)")
    try:
        batches = None if args.batches is None else [int(b) for b in args.batches]
    except ValueError as error:
        raise UsageError(f"--batches must be ints: {error}") from error
    if batches is not None and (not batches or min(batches) < 1):
        raise UsageError("--batches must be positive ints")
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()  # the lever group changes it; every other group runs with this

    rows: list[dict] = []
    levers: list[dict] = []
    for backbone in args.backbones:
        model, weights = runner.load_model(backbone, args.weights if backbone == "mnet" else None)
        for device_name in devices:
            device = torch.device(device_name)
            for size in args.inputs:
                scales = matrix.INPUTS[size][1]
                for batch in batches or ([1, 8] if device.type == "cuda" else [1]):
                    frames = runner.test_frames(size, batch, args.image)
                    pipes = runner.build_pipelines(
                        backbone, model, device, args.runtimes, frames, scales, batch
                    )
                    if not pipes:
                        continue
                    runner.time_group(pipes, args.runs, args.warmup)
                    group = [
                        runner.row(
                            p, batch, backbone=backbone, weights=weights, device=device_name, input=size
                        )
                        for p in pipes
                    ]
                    _add_speedups(group)
                    rows.extend(group)
                    _progress(group)
                    _write(args.out, rows, levers, args)
                if args.levers and backbone == "mnet" and size == "640x480":
                    frames = runner.test_frames(size, 1, args.image)
                    pipes = runner.lever_pipelines(backbone, model, device, frames, scales)
                    runner.time_group(pipes, args.runs, args.warmup)
                    group = [
                        runner.row(p, 1, backbone=backbone, weights=weights, device=device_name, input=size)
                        for p in pipes
                    ]
                    _add_speedups(group)
                    levers.extend(group)
                    _progress(group)
                    _write(args.out, rows, levers, args)
                    torch.set_num_threads(threads)
    text = _write(args.out, rows, levers, args)
    if args.plot is not None:
        from retinaface_ros.benchmark.plot import plot_timings

        print(f"# timings drawn in {plot_timings(json.loads(text), args.plot)}", file=sys.stderr)
    print(text)
    return 0


def _plot_saved(args: argparse.Namespace) -> int:
    """``--from-json REPORT --plot PNG``: draw a saved report."""
    from retinaface_ros.benchmark.plot import plot_timings

    if args.plot is None:
        raise UsageError("--from-json needs --plot (it only draws a saved report)")
    try:
        report = json.loads(args.from_json.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"--from-json: not found: {args.from_json}") from None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise UsageError(f"--from-json {args.from_json}: not a JSON benchmark report ({error})") from None
    if not isinstance(report, dict) or not isinstance(report.get("rows"), list):
        raise UsageError(f"--from-json {args.from_json}: not a `retinaface bench` report (no 'rows' list)")
    try:
        path = plot_timings(report, args.plot, title=f"retinaface bench: {args.from_json.name}")
    except (KeyError, TypeError) as error:
        raise UsageError(f"--from-json {args.from_json}: a row lacks {error}") from None
    print(f"timings drawn in {path}")
    return 0


def _write(out: Path | None, rows: list[dict], levers: list[dict], args: argparse.Namespace) -> str:
    """The report as JSON text, also written to ``out`` (after every group, so a cut-off run keeps rows)."""
    from retinaface_ros.benchmark import matrix, runner

    report = {
        "machine": runner.machine(),
        "settings": {"runs": args.runs, "warmup": args.warmup, "threshold": matrix.THRESHOLD},
        "rows": rows,
    }
    if args.levers:
        report["levers"] = levers
    text = json.dumps(report, indent=1)
    if out is not None:
        from retinaface_ros.io.atomic_files import write_atomically

        write_atomically(out, (text + "\n").encode())  # a reader never sees a half-written report
    return text


def _add_speedups(group: list[dict]) -> None:
    base = next((r for r in group if r["runtime"] == "reference"), None)
    for r in group:
        r["speedup_vs_reference"] = (
            None if base is None else round(base["total_ms"]["median"] / r["total_ms"]["median"], 2)
        )


def _progress(group: list[dict]) -> None:
    for r in group:
        print(
            f"# {r['backbone']} {r['device']} {r['input']} b{r['batch']} {r['runtime']}: "
            f"pre {r['preprocess_ms']['median']:.2f} fwd {r['forward_ms']['median']:.2f} "
            f"post {r['postprocess_ms']['median']:.2f} total {r['total_ms']['median']:.2f} ms, "
            f"{r['fps']} img/s"
            + (f", x{r['speedup_vs_reference']}" if r["speedup_vs_reference"] is not None else "")
            + (
                f", packed {r['packed']} (larger top-k {r['larger_top_k']}) fallbacks "
                f"{r['fallback_overflow']}+{r['fallback_not_converged']}"
                if r["device"] == "cuda" and "packed" in r
                else ""
            ),
            file=sys.stderr,
            flush=True,
        )
