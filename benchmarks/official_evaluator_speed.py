"""`t2sql evaluate` against the official Spider evaluator, one process per prediction file, side by side.

For every published prediction file in <shared data>/spider-dev/predictions, runs
in turn, each as its own process:

- the official evaluator: `python evaluation.py --gold G --pred P --db D --table T
  --etype E` from a checkout of taoyds/test-suite-sql-eval (--official DIR, run by
  --official-python, which needs nltk with its punkt data and sqlparse);
- ours: `python -m t2sql_pipeline.cli evaluate --gold G --pred P --db-dir D
  --tables T --out R.json` (plus --ours-args), with a fresh state folder at the
  start of the run, so the gold cache starts empty and fills across the calls.

Both read the same files: the questions that have a database (the official script
stops at a question whose database is missing). The official per-question results
are recorded without changing its code: execution match by wrapping
`exec_eval.eval_exec_match` in the launching process, exact match from the
pred/gold lines it prints for every miss. The run fails unless every per-question
execution and exact match, and the printed exact/partial matching table (per hardness),
are identical; it prints both total times and the ratio. Ours runs with --partial
(printing that table) and writes its JSON report.

    python benchmarks/official_evaluator_speed.py --official /path/to/test-suite-sql-eval \\
        --official-python /path/to/venv/bin/python [--etype all] [--files 18] [--data DIR] \\
        [--ours-python PY] [--ours-args "--workers 0"]

Shared data: --data, else $T2SQL_SHARED_DATA, else ../shared/data beside the checkout.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

# Runs the official evaluation.py unchanged, recording each execution-match verdict.
_RECORDER = """
import json, runpy, sys
official, out = sys.argv[1], sys.argv[2]
sys.path.insert(0, official)
import exec_eval
verdicts = []
_original = exec_eval.eval_exec_match
def _recording(*args, **kwargs):
    verdict = _original(*args, **kwargs)
    verdicts.append(int(verdict))
    return verdict
exec_eval.eval_exec_match = _recording
sys.argv = [official + "/evaluation.py", *sys.argv[3:]]
try:
    runpy.run_path(official + "/evaluation.py", run_name="__main__")
finally:
    with open(out, "w") as handle:
        json.dump(verdicts, handle)
"""


def shared_data(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    if "T2SQL_SHARED_DATA" in os.environ:
        return Path(os.environ["T2SQL_SHARED_DATA"])
    return REPO_ROOT.parent / "shared" / "data"


def with_databases(spider: Path, files: list[Path], folder: Path) -> tuple[Path, dict[str, Path], list[str]]:
    """Write gold and prediction files restricted to the questions that have a database."""
    gold_lines = (spider / "dev_gold.sql").read_text(encoding="utf-8").splitlines()
    keep = [i for i, line in enumerate(gold_lines) if (spider / "database" / (db := line.rsplit("\t", 1)[-1].strip()) / f"{db}.sqlite").is_file()]
    gold = folder / "gold.sql"
    gold.write_text("".join(gold_lines[i] + "\n" for i in keep), encoding="utf-8")
    preds = {}
    for path in files:
        lines = path.read_text(encoding="utf-8").splitlines()
        preds[path.stem] = folder / path.name
        preds[path.stem].write_text("".join(lines[i] + "\n" for i in keep), encoding="utf-8")
    return gold, preds, [gold_lines[i] for i in keep]


def official_exact(stdout: str, gold_lines: list[str], pred_lines: list[str]) -> list[bool]:
    """Per-question exact match from the official output: it prints pred and gold of every miss, in order."""
    misses = []
    lines = stdout.splitlines()
    for first, second in pairwise(lines):
        if " pred: " in first and " gold: " in second:
            misses.append((first.split(" pred: ", 1)[1], second.split(" gold: ", 1)[1]))
    verdicts, k = [], 0
    for gold, pred in zip(gold_lines, pred_lines, strict=True):
        text = pred.strip().split("\t")[0]
        # Checkouts differ in the rewrite before printing: replace("value", "1") or (" value ", " 1 ").
        printed = {text.replace("value", "1"), text.replace(" value ", " 1 ")}
        miss = k < len(misses) and misses[k][0] in printed and misses[k][1] == gold.strip().split("\t")[0]
        k += miss
        verdicts.append(not miss)
    if k != len(misses):
        raise RuntimeError(f"could not align the official output: {k} of {len(misses)} misses placed")
    return verdicts


def score_table(stdout: str) -> list[str]:
    """The exact and partial matching table (from its header row on), without execution rows."""
    lines = stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if line.split()[:2] == ["easy", "medium"]), len(lines))
    return [line for line in lines[start:] if "EXECUTION ACCURACY" not in line and not line.startswith("execution ") and not line.startswith("report written")]


def run_timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds, done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, default=None, help="checkout of taoyds/test-suite-sql-eval")
    parser.add_argument("--official-python", default=None, help="Python with nltk (punkt) and sqlparse")
    parser.add_argument(
        "--etype", choices=("all", "match"), default="all", help="official etype: all = execution + exact match (default), match = exact match only"
    )
    parser.add_argument("--ours-python", default=sys.executable, help="Python running t2sql (default: this one)")
    parser.add_argument("--ours-args", default="", help="extra arguments for t2sql evaluate, e.g. '--workers 0'")
    parser.add_argument("--data", type=Path, default=None, help="shared data folder (holds spider-dev/)")
    parser.add_argument("--files", type=int, default=None, help="only the first N prediction files")
    args = parser.parse_args(argv)

    spider = shared_data(args.data) / "spider-dev"
    if not (spider / "dev_gold.sql").is_file():
        print(f"no Spider dev data under {spider}; nothing to measure", file=sys.stderr)
        return 2
    if args.official is None or not (args.official / "evaluation.py").is_file() or not args.official_python:
        print("the official evaluator is needed: --official DIR (a test-suite-sql-eval checkout) and --official-python PY; nothing measured", file=sys.stderr)
        return 2
    files = sorted((spider / "predictions").glob("*.sql"))[: args.files]
    ours_totals, official_totals, differences = 0.0, 0.0, 0
    with tempfile.TemporaryDirectory(prefix="t2sql-official-speed-") as tmp:
        work = Path(tmp)
        gold, preds, gold_lines = with_databases(spider, files, work)
        ours_env = {
            **os.environ,
            "T2SQL_HOME": str(work / "state"),
            "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO_ROOT), os.environ.get("PYTHONPATH")))),
        }
        common = ["--gold", str(gold), "--pred"]
        print(f"{'prediction file':<42}{'official s':>11}{'ours s':>8}{'EX':>8}{'EM':>8}{'differ':>8}")
        for name, pred in preds.items():
            record = work / f"{name}.official.json"
            official_cmd = [
                args.official_python,
                "-c",
                _RECORDER,
                str(args.official.resolve()),
                str(record),
                *common,
                str(pred),
                "--db",
                str(spider / "database"),
                "--table",
                str(spider / "tables.json"),
                "--etype",
                args.etype,
            ]
            official_s, official = run_timed(official_cmd, dict(os.environ), args.official)
            report = work / f"{name}.ours.json"
            ours_cmd = [
                args.ours_python,
                "-m",
                "t2sql_pipeline.cli",
                "evaluate",
                *common,
                str(pred),
                "--db-dir",
                str(spider / "database"),
                "--tables",
                str(spider / "tables.json"),
                "--partial",
                "--out",
                str(report),
                *shlex.split(args.ours_args),
            ]
            ours_s, ours = run_timed(ours_cmd, ours_env, REPO_ROOT)
            questions = json.loads(report.read_text())["questions"]
            pred_lines = pred.read_text(encoding="utf-8").splitlines()
            theirs_em = official_exact(official.stdout, gold_lines, pred_lines)
            differ = sum(q["exact_match"] != em for q, em in zip(questions, theirs_em, strict=True))
            if args.etype == "all":
                theirs_ex = json.loads(record.read_text())
                differ += sum(q["exec_match"] != bool(ex) for q, ex in zip(questions, theirs_ex, strict=True))
            if score_table(ours.stdout) != score_table(official.stdout):
                print(f"{name}: the exact/partial matching tables differ", file=sys.stderr)
                differ += 1
            differences += differ
            official_totals += official_s
            ours_totals += ours_s
            ex = sum(bool(q["exec_match"]) for q in questions) / len(questions)
            em = sum(theirs_em) / len(theirs_em)
            print(f"{name:<42}{official_s:>11.2f}{ours_s:>8.2f}{100 * ex:>8.1f}{100 * em:>8.1f}{differ:>8}")
    print(f"\n{len(preds)} files x {len(gold_lines)} questions with a database, one process per file and side")
    print(f"official evaluation.py --etype {args.etype}: {official_totals:7.1f} s")
    print(f"t2sql evaluate {args.ours_args or '(defaults)'}: {ours_totals:7.1f} s")
    print(f"ratio: {official_totals / ours_totals:.2f}x on {os.cpu_count()} CPUs")
    if differences:
        print(f"FAIL: {differences} per-question results differ", file=sys.stderr)
        return 1
    print("per-question results identical" + (" (execution and exact match)" if args.etype == "all" else "") + "; exact and partial matching tables identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
