"""What each stage hands to the next: small frozen records of paths and figures (never the data itself)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Manifest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RawDataManifest(Manifest):
    source: str
    path: str  # Parquet of normalized examples
    n_examples: int
    n_databases: int
    excluded: dict[str, int]  # reason -> count
    excluded_path: str  # JSON list of every excluded example with its reason


class StratumRow(Manifest):
    stratum: str
    population: int
    sample: int
    population_share: float
    sample_share: float
    shift_pct_points: float


class SampleManifest(Manifest):
    path: str
    n_population: int
    n_sample: int
    strata: list[StratumRow]
    max_shift_pct_points: float
    tolerance_pct_points: float


class BaseModelManifest(Manifest):
    path: str  # local Hugging Face folder
    name: str
    parameters: int
    vocab_size: int
    has_chat_template: bool


class SplitStats(Manifest):
    examples: int
    databases: int
    shrunk_sample_values: int = 0  # schema shrink steps applied to fit prompt.max_seq_length (see tokenization)
    shrunk_unreferenced_tables: int = 0
    dropped_too_long: int
    min_tokens: int
    median_tokens: int
    p95_tokens: int
    max_tokens: int


class SplitsManifest(Manifest):
    path: str  # datasets.DatasetDict saved with save_to_disk
    prompt_format: str
    splits: dict[str, SplitStats]
    mode: str = "by_database"  # splits.mode: the asset checks test database separation only when by_database


class AdapterManifest(Manifest):
    path: str
    mlflow_run_id: str
    global_step: int
    train_loss: float
    eval_loss: float | None
    eval_token_accuracy: float | None
    trainable_parameters: int
    total_parameters: int
    seconds: float
    loss_curve_path: str
    resumed_from_step: int = 0  # > 0: this run continued a crashed run's checkpoint
    hardware_fallbacks: list[str] = []  # settings that could not apply on this machine, and what was used instead
    starts_from: str | None = None  # a GRPO adapter: the SFT adapter it continued (its reference in the evaluation)
    during_training: list[dict[str, float | int | None]] = []  # per evaluation step: EX and ROUGE-L-SQL on a validation subset


class ModelScore(Manifest):
    execution_accuracy: float
    valid_sql_rate: float
    end_of_turn_rate: float  # answers that ended at the end-of-turn token
    seconds_per_question: float  # generation time per question (batched)
    n_questions: int
    n_scored: int
    per_level: dict[str, float]


class ReportManifest(Manifest):
    path: str  # report JSON
    predictions_path: str
    accuracy_chart_path: str  # PNG: base vs adapter EX, overall and per level (also an MLflow artifact)
    base: ModelScore
    adapter: ModelScore
    evaluated_split: str  # test, or validation when comparing settings
    reference_model: str = "base model"  # what `base` scored: the base model, or (GRPO) the SFT adapter it started from
    mcnemar_only_base: int  # questions only the base answers correctly (paired, scored for both)
    mcnemar_only_adapter: int  # questions only the adapter answers correctly
    mcnemar_p_value: float  # exact two-sided McNemar test, adapter vs base
    mlflow_run_id: str
    data_version: str
    eval_split: str  # fingerprint of the evaluated rows (the promotion gate compares only like with like)
    code_version: str
    completion: dict[str, dict[str, float]] = {}  # "base"/"adapter" -> completion EX, ROUGE-L-SQL F1 (evaluation.completion)


class RegistrationManifest(Manifest):
    """The registered version of an adapter that passed the gate `beats_base_model`, and the champion decision."""

    path: str  # registration JSON
    mlflow_run_id: str
    registered_model: str
    registered_version: str
    aliases: list[str]
    promoted: bool
    promotion_reason: str
    champion_version: str | None
