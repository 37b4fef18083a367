"""What execution-guided voting costs against greedy decoding, on the same questions, side by side in one run.

Arms, on the first `--questions` questions of a finished run's split, with its trained adapter:
  greedy            the evaluation's batched greedy decoding (`generate_answers`)
  vote              `vote_answers` with `--candidates` (the greedy answer + samples): each prompt prefilled
                    once and its cache shared, the greedy row decoded in the same batch
  vote_unshared     the same, every candidate row prefilling its own copy of the prompt (what voting did
                    before the cache was shared)
  vote_sorted_top_p the same as vote, top-p by transformers' TopPLogitsWarper (a sort of the whole
                    vocabulary per row and step) instead of `NucleusWarper` (what voting did before)
Reported per arm: seconds per question, the ratio to greedy, EX on the split (the vote arms also
show that sharing the prefill does not change the answers).

    python benchmarks/voting_cost.py --experiment spider-train_smollm2-135m_lora \
        --run-dir .state/artifacts/t2sql-spider-train-smollm2-135m/<run> --split validation --questions 48 --out voting.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))


@dataclass(frozen=True)
class VotingArm:
    arm: str
    questions: int
    seconds: float
    seconds_per_question: float
    ratio_to_greedy: float
    execution_accuracy: float
    answers_equal_to_vote: bool | None


def main(argv: list[str] | None = None) -> list[VotingArm]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", required=True)
    parser.add_argument("--run-dir", required=True, type=Path)
    parser.add_argument("--split", default="validation", choices=("validation", "test"))
    parser.add_argument("--questions", type=int, default=48)
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--skip-unshared", action="store_true", help="leave out the vote_unshared arm (it costs the most)")
    parser.add_argument("--sorted-top-p", action="store_true", help="add the vote_sorted_top_p arm")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    import torch
    from datasets import load_from_disk

    from t2sql_pipeline.core.inference import voting
    from t2sql_pipeline.core.inference.generation import generate_answers
    from t2sql_pipeline.core.inference.loading import load_for_inference
    from t2sql_pipeline.core.inference.voting import vote_answers
    from t2sql_pipeline.core.run_folder import RunFolder
    from t2sql_pipeline.core.scoring.by_database import score_by_database
    from t2sql_pipeline.core.settings import load_settings
    from t2sql_pipeline.core.sql.extraction import extract_sql
    from t2sql_pipeline.core.stages.rerun import base_model_of_run

    torch.set_num_threads(args.threads)
    settings = load_settings(args.experiment, [*args.overrides, "generation.strategy=execution_vote", f"generation.num_candidates={args.candidates}"])
    model, tokenizer = load_for_inference(base_model_of_run(settings, args.run_dir), str(RunFolder(args.run_dir).sft_adapter), settings)
    rows = load_from_disk(str(RunFolder(args.run_dir).tokenized_splits))[args.split].to_list()[: args.questions]
    prompts = [row["prompt_ids"] for row in rows]
    db_paths = [Path(row["db_path"]) for row in rows]
    g = settings.generation

    def greedy() -> list[str]:
        answers = generate_answers(model, tokenizer, prompts, max_new_tokens=g.max_new_tokens, batch_size=g.batch_size)
        return [extract_sql(a.text) for a in answers]

    def vote() -> list[str]:
        return [a.sql for a in vote_answers(model, tokenizer, prompts, db_paths, settings, lambda _d, _t: None)[0]]

    def vote_unshared() -> list[str]:
        shared = voting._prefill
        voting._prefill = lambda *_args: None
        try:
            return vote()
        finally:
            voting._prefill = shared

    def vote_sorted_top_p() -> list[str]:
        from transformers import TopPLogitsWarper

        nucleus = voting.NucleusWarper
        voting.NucleusWarper = TopPLogitsWarper
        try:
            return vote()
        finally:
            voting.NucleusWarper = nucleus

    arms = [("greedy", greedy), ("vote", vote)] + ([] if args.skip_unshared else [("vote_unshared", vote_unshared)])
    arms += [("vote_sorted_top_p", vote_sorted_top_p)] if args.sorted_top_p else []
    results: list[VotingArm] = []
    answers: dict[str, list[str]] = {}
    greedy_seconds = 0.0
    for name, run in arms:
        started = time.perf_counter()
        answers[name] = run()
        seconds = time.perf_counter() - started
        greedy_seconds = greedy_seconds or seconds
        scores = score_by_database(rows, answers[name], timeout_s=settings.evaluation.timeout_s, workers=1)
        results.append(
            VotingArm(
                arm=name,
                questions=len(rows),
                seconds=round(seconds, 3),  # a tiny smoke run takes hundredths of a second
                seconds_per_question=round(seconds / len(rows), 3),
                ratio_to_greedy=round(seconds / greedy_seconds, 2),
                execution_accuracy=sum(bool(s.exec_match) for s in scores) / len(rows),
                answers_equal_to_vote=answers[name] == answers["vote"] if name.startswith("vote_") else None,
            )
        )
        r = results[-1]
        print(f"{name:<18} {r.seconds_per_question:.3f} s/question  x{r.ratio_to_greedy} greedy  EX {r.execution_accuracy:.1%}", flush=True)
    if args.out:
        args.out.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
