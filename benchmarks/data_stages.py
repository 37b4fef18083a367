"""Time the data stages on the real Spider dev files (experiment spider-dev-local).

Load (with hardness, gold-SQL check, sample values), stratified sample, split and
tokenize; building the demo tokenizer and model (`base_model`) is timed apart because
it is not a data stage. Usage: python benchmarks/data_stages.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from t2sql_pipeline.core import stages as pipeline
from t2sql_pipeline.core.settings import load_settings

REPO_ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared" / "data", help="folder holding spider-dev/")
    args = parser.parse_args()
    settings = load_settings("spider-dev-local", overrides=[f"data.spider.path={args.data / 'spider-dev'}"])
    with tempfile.TemporaryDirectory() as tmp:
        ctx = pipeline.RunContext(settings, Path(tmp), tracking_uri="unused", log=lambda _: None)
        timings: dict[str, float] = {}
        started = time.perf_counter()
        raws = [pipeline.raw_data(ctx, "spider"), pipeline.raw_data(ctx, "bird")]
        timings["load"] = time.perf_counter() - started
        started = time.perf_counter()
        sampled = pipeline.sample(ctx, raws)
        timings["sample"] = time.perf_counter() - started
        started = time.perf_counter()
        base = pipeline.base_model(ctx, sampled)
        base_seconds = time.perf_counter() - started
        started = time.perf_counter()
        pipeline.tokenized_splits(ctx, sampled, base)
        timings["split+tokenize"] = time.perf_counter() - started
    for stage, seconds in timings.items():
        print(f"{stage:<16}{seconds:7.2f} s")
    print(f"{'data stages':<16}{sum(timings.values()):7.2f} s   (base_model, not a data stage: {base_seconds:.2f} s)")


if __name__ == "__main__":
    main()
