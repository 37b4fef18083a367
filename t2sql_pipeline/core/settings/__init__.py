"""Experiment settings: `configs/base.yaml` + one experiment file + `key=value` overrides.

Every knob lives in `configs/base.yaml` with its default; an experiment file holds
only what differs. Validation happens before any work, and an error names the
file (or override) that set the offending key:

>>> s = load_settings("demo", overrides=["training.max_steps=5"])
>>> s.training.max_steps
5
"""

from t2sql_pipeline.core.settings.files import (
    SettingsError,
    default_config_dir,
    load_settings,
    parse_override,
    resolve_experiment_file,
    settings_of_logged_model,
)
from t2sql_pipeline.core.settings.models import (
    DataSettings,
    DemoModelSettings,
    EvaluationSettings,
    ExperimentSettings,
    GenerationSettings,
    LoraSettings,
    ModelSettings,
    OrchestrationSettings,
    PipelineSettings,
    PromptSettings,
    QuantizationSettings,
    RegistrySettings,
    RewardSettings,
    RlSettings,
    SampleSettings,
    SourceSettings,
    SplitSettings,
    SyntheticSettings,
    TrainingSettings,
)

__all__ = [
    "DataSettings",
    "DemoModelSettings",
    "EvaluationSettings",
    "ExperimentSettings",
    "GenerationSettings",
    "LoraSettings",
    "ModelSettings",
    "OrchestrationSettings",
    "PipelineSettings",
    "PromptSettings",
    "QuantizationSettings",
    "RegistrySettings",
    "RewardSettings",
    "RlSettings",
    "SampleSettings",
    "SettingsError",
    "SourceSettings",
    "SplitSettings",
    "SyntheticSettings",
    "TrainingSettings",
    "default_config_dir",
    "load_settings",
    "parse_override",
    "resolve_experiment_file",
    "settings_of_logged_model",
]
