"""How the data stages scale with the number of questions: Spider dev replicated 1x, 10x, ... .

Spider dev (1,034 questions, 19 databases with files) is written `--scales` times over into a
temporary copy of the release layout (each copy's questions get a " (copy k)" suffix so none is
a duplicate; `tables.json` and the databases are shared), then the pipeline's own data stages
run on it with experiment spider-dev-local: load (hardness, gold-SQL execution, 3 sample values
per column), stratified sample, split by database + tokenize with the demo tokenizer (trained on
the sample and timed apart as `base_model`). Used by the capacity plan in docs/deployment.md.

    python benchmarks/data_stages_scaling.py [--data ../shared/data] [--scales 1 10]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from t2sql_pipeline.core import stages as pipeline
from t2sql_pipeline.core.settings import load_settings

REPO_ROOT = Path(__file__).resolve().parents[1]


def replicate(spider_dev: Path, scale: int, out: Path) -> Path:
    """A Spider release folder whose dev.json holds `scale` copies of every question (databases linked, not copied)."""
    out.mkdir(parents=True)
    questions = json.loads((spider_dev / "dev.json").read_text())
    copies = [{**q, "question": q["question"] if k == 0 else f"{q['question']} (copy {k})"} for k in range(scale) for q in questions]
    (out / "dev.json").write_text(json.dumps(copies))
    (out / "tables.json").symlink_to((spider_dev / "tables.json").resolve())
    (out / "database").symlink_to((spider_dev / "database").resolve())
    return out


def time_stages(spider_dev: Path, scale: int) -> dict[str, float]:
    """Seconds per stage on Spider dev replicated `scale` times, and the number of questions loaded."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = replicate(spider_dev, scale, Path(tmp) / "spider")
        settings = load_settings("spider-dev-local", overrides=[f"data.spider.path={folder}"])
        ctx = pipeline.RunContext(settings, Path(tmp) / "run", tracking_uri="unused", log=lambda _: None)
        timings: dict[str, float] = {}
        started = time.perf_counter()
        raws = [pipeline.raw_data(ctx, "spider"), pipeline.raw_data(ctx, "bird")]
        timings["load"] = time.perf_counter() - started
        print(f"  {scale}x load: {timings['load']:.2f} s", flush=True)
        started = time.perf_counter()
        sampled = pipeline.sample(ctx, raws)
        timings["sample"] = time.perf_counter() - started
        print(f"  {scale}x sample: {timings['sample']:.2f} s", flush=True)
        started = time.perf_counter()
        base = pipeline.base_model(ctx, sampled)
        timings["base_model"] = time.perf_counter() - started
        print(f"  {scale}x base_model: {timings['base_model']:.2f} s", flush=True)
        started = time.perf_counter()
        pipeline.tokenized_splits(ctx, sampled, base)
        timings["split+tokenize"] = time.perf_counter() - started
        print(f"  {scale}x split+tokenize: {timings['split+tokenize']:.2f} s", flush=True)
        timings["questions"] = float(sum(r.n_examples for r in raws))
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared" / "data", help="folder holding spider-dev/")
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10])
    args = parser.parse_args()
    for scale in args.scales:
        t = time_stages(args.data / "spider-dev", scale)
        data = t["load"] + t["sample"] + t["split+tokenize"]
        print(
            f"scale {scale:>3}x  {t['questions']:>8.0f} questions  load {t['load']:7.2f} s  sample {t['sample']:6.2f} s  "
            f"split+tokenize {t['split+tokenize']:7.2f} s  data stages {data:7.2f} s ({1000 * data / t['questions']:.2f} ms/question)  "
            f"base_model (not a data stage) {t['base_model']:.2f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
