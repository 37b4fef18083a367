"""Settings: base.yaml + experiment + overrides, validated; every error names its file (or override) and key."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from t2sql_pipeline.core.settings import PipelineSettings, SettingsError, load_settings, parse_override

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO_ROOT / "configs"
EXPERIMENTS = sorted((CONFIG_DIR / "experiments").glob("*.yaml"))


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A copy of configs/base.yaml with an empty experiments folder, for writing bad experiment files."""
    folder = tmp_path / "configs"
    (folder / "experiments").mkdir(parents=True)
    shutil.copy(CONFIG_DIR / "base.yaml", folder / "base.yaml")
    return folder


def write_experiment(config_dir: Path, name: str, text: str, *, named: bool = True) -> Path:
    """An experiment file; `named` gives it the required `experiment.name` unless the text sets one."""
    if named and "experiment:\n  name:" not in text and not text.lstrip().startswith("-"):
        header = f"experiment:\n  name: test-{name}\n"
        text = text.replace("experiment:\n", header, 1) if "experiment:\n" in text else header + text
    path = config_dir / "experiments" / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --- the shipped configuration ----------------------------------------------


def test_base_alone_validates() -> None:
    settings = load_settings(None, config_dir=CONFIG_DIR)
    assert isinstance(settings, PipelineSettings)
    assert settings.registered_model_name == settings.experiment.name


def test_there_is_at_least_one_experiment() -> None:
    assert EXPERIMENTS, f"no experiment files under {CONFIG_DIR / 'experiments'}"


@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.stem for p in EXPERIMENTS])
def test_every_experiment_validates_by_name_and_by_path(path: Path) -> None:
    by_name = load_settings(path.stem, config_dir=CONFIG_DIR)
    by_path = load_settings(str(path), config_dir=CONFIG_DIR)
    assert by_name == by_path


def test_experiment_holds_only_the_difference() -> None:
    base = load_settings(None, config_dir=CONFIG_DIR)
    demo = load_settings("demo", config_dir=CONFIG_DIR)
    assert demo.model.source == "demo" and base.model.source == "pretrained"
    # Keys the demo file does not mention keep base.yaml's values.
    assert demo.evaluation == base.evaluation
    assert demo.lora.dropout == base.lora.dropout


def test_settings_are_frozen() -> None:
    settings = load_settings(None, config_dir=CONFIG_DIR)
    with pytest.raises(ValidationError, match="frozen"):
        settings.training.max_steps = 3  # type: ignore[misc]


# --- overrides --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("training.max_steps=10", "training.max_steps", 10),
        ("training.learning_rate=0.5", "training.learning_rate", 0.5),
        ("lora.target_modules=[q_proj, v_proj]", "lora.target_modules", ["q_proj", "v_proj"]),
        ("registry.model_name=null", "registry.model_name", None),
        ("prompt.include_evidence=false", "prompt.include_evidence", False),
        ("experiment.name=a=b", "experiment.name", "a=b"),  # only the first '=' separates
        (" model.name_or_path = org/model ", "model.name_or_path", "org/model"),
    ],
)
def test_parse_override_reads_values_as_yaml(text: str, key: str, value: object) -> None:
    assert parse_override(text) == (key, value)
    assert type(parse_override(text)[1]) is type(value)


@pytest.mark.parametrize("text", ["training.max_steps", "=5", "  =5"])
def test_parse_override_rejects_malformed(text: str) -> None:
    with pytest.raises(SettingsError, match="section.key=value"):
        parse_override(text)


def test_overrides_apply_on_top_of_the_experiment() -> None:
    settings = load_settings(
        "demo",
        overrides=[
            "training.max_steps=7",
            "training.learning_rate=1.5e-4",
            "lora.target_modules=[q_proj, v_proj]",
            "registry.model_name=my-model",
            "sample.fraction=0.45",
        ],
        config_dir=CONFIG_DIR,
    )
    assert settings.training.max_steps == 7
    assert settings.training.learning_rate == pytest.approx(1.5e-4)
    assert settings.lora.target_modules == ["q_proj", "v_proj"]
    assert settings.registered_model_name == "my-model"
    assert settings.sample.fraction == pytest.approx(0.45)


def test_override_to_null_restores_default_model_name() -> None:
    settings = load_settings("demo", overrides=["registry.model_name=null"], config_dir=CONFIG_DIR)
    assert settings.registry.model_name is None
    assert settings.registered_model_name == settings.experiment.name


def test_later_override_wins() -> None:
    settings = load_settings(None, overrides=["training.max_steps=3", "training.max_steps=9"], config_dir=CONFIG_DIR)
    assert settings.training.max_steps == 9


# --- unknown keys -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "dotted"),
    [
        ("training:\n  max_step: 5\n", "training.max_step"),  # a typo
        ("lora:\n  rank: 8\n", "lora.rank"),
        ("optimizer:\n  name: adamw\n", "optimizer"),  # an unknown section
        ("model:\n  demo:\n    layers: 3\n", "model.demo.layers"),
    ],
)
def test_unknown_key_in_experiment_file(config_dir: Path, text: str, dotted: str) -> None:
    path = write_experiment(config_dir, "typo", text)
    with pytest.raises(SettingsError) as error:
        load_settings("typo", config_dir=config_dir)
    message = str(error.value)
    assert str(path) in message
    assert f"'{dotted}'" in message


@pytest.mark.parametrize(("override", "dotted"), [("training.max_step=5", "training.max_step"), ("nope.key=1", "nope")])
def test_unknown_key_in_override(override: str, dotted: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings("demo", overrides=[override], config_dir=CONFIG_DIR)
    message = str(error.value)
    assert repr(override) in message or override in message
    assert dotted in message


# --- wrong types and impossible values ---------------------------------------


@pytest.mark.parametrize(
    ("text", "dotted"),
    [
        ("training:\n  max_steps: many\n", "training.max_steps"),
        ("experiment:\n  seed: [1, 2]\n", "experiment.seed"),
        ("prompt:\n  format: xml\n", "prompt.format"),
        ("data:\n  synthetic:\n    databases: [shop, warehouse]\n", "data.synthetic.databases"),
        ("training:\n  learning_rate: -0.001\n", "training.learning_rate"),
        ("sample:\n  fraction: 0\n", "sample.fraction"),
        ("sample:\n  fraction: 1.5\n", "sample.fraction"),
        ("lora:\n  r: 0\n", "lora.r"),
        ("lora:\n  dropout: 1.0\n", "lora.dropout"),
    ],
)
def test_invalid_value_in_experiment_names_key_and_file(config_dir: Path, text: str, dotted: str) -> None:
    path = write_experiment(config_dir, "bad", text)
    with pytest.raises(SettingsError) as error:
        load_settings("bad", config_dir=config_dir)
    message = str(error.value)
    assert f"'{dotted}" in message
    assert f"{path}: key '{dotted}" in message  # the origin is on the line of the key


@pytest.mark.parametrize(
    ("override", "dotted"),
    [
        ("training.learning_rate=-1", "training.learning_rate"),
        ("sample.fraction=0", "sample.fraction"),
        ("sample.fraction=1.5", "sample.fraction"),
        ("lora.r=0", "lora.r"),
        ("training.max_steps=abc", "training.max_steps"),
        ("training.per_device_batch_size=2.5", "training.per_device_batch_size"),
    ],
)
def test_invalid_override_names_key_and_override(override: str, dotted: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings("demo", overrides=[override], config_dir=CONFIG_DIR)
    assert f"override {override!r}: key '{dotted}'" in str(error.value)


def test_valid_experiment_value_is_not_blamed_for_a_bad_override(config_dir: Path) -> None:
    write_experiment(config_dir, "ok", "lora:\n  r: 8\n")
    with pytest.raises(SettingsError) as error:
        load_settings("ok", overrides=["lora.r=-4"], config_dir=config_dir)
    message = str(error.value)
    assert "override 'lora.r=-4'" in message
    assert "ok.yaml" not in message


def test_validation_plus_test_fraction_must_leave_training_data_accepts_below_one() -> None:
    settings = load_settings(None, overrides=["splits.validation_fraction=0.3", "splits.test_fraction=0.6"], config_dir=CONFIG_DIR)
    assert settings.splits.validation_fraction + settings.splits.test_fraction < 1


@pytest.mark.parametrize(("validation", "test"), [(0.5, 0.5), (0.4, 0.7)])
def test_split_fractions_summing_to_one_or_more_fail(config_dir: Path, validation: float, test: float) -> None:
    write_experiment(config_dir, "greedy", f"splits:\n  validation_fraction: {validation}\n  test_fraction: {test}\n")
    with pytest.raises(SettingsError, match="validation_fraction \\+ test_fraction"):
        load_settings("greedy", config_dir=config_dir)


def test_split_fraction_error_names_the_experiment_file(config_dir: Path) -> None:
    path = write_experiment(config_dir, "greedy", "splits:\n  validation_fraction: 0.5\n  test_fraction: 0.5\n")
    with pytest.raises(SettingsError) as error:
        load_settings("greedy", config_dir=config_dir)
    message = str(error.value)
    assert str(path) in message
    assert str(config_dir / "base.yaml") not in message


def test_split_fraction_error_names_the_override() -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(None, overrides=["splits.validation_fraction=0.95"], config_dir=CONFIG_DIR)
    assert "override 'splits.validation_fraction=0.95'" in str(error.value)


def test_local_source_needs_a_path() -> None:
    with pytest.raises(SettingsError, match="data.spider"):
        load_settings(None, overrides=["data.spider.kind=local"], config_dir=CONFIG_DIR)
    settings = load_settings(None, overrides=["data.spider.kind=local", "data.spider.path=/data/spider"], config_dir=CONFIG_DIR)
    assert settings.data.spider.path == "/data/spider"


# --- broken files and unknown experiments -----------------------------------


def test_bad_yaml_names_the_file(config_dir: Path) -> None:
    path = write_experiment(config_dir, "broken", "training:\n  max_steps: [1, 2\n  lr: 3\n")
    with pytest.raises(SettingsError) as error:
        load_settings("broken", config_dir=config_dir)
    assert str(path) in str(error.value)
    assert "YAML" in str(error.value)


def test_top_level_must_be_a_mapping(config_dir: Path) -> None:
    path = write_experiment(config_dir, "listy", "- a\n- b\n")
    with pytest.raises(SettingsError) as error:
        load_settings("listy", config_dir=config_dir)
    assert str(path) in str(error.value)


def test_an_experiment_with_only_its_name_equals_base_but_for_the_name(config_dir: Path) -> None:
    write_experiment(config_dir, "empty", "# nothing differs\n")
    named = load_settings("empty", config_dir=config_dir)
    assert named.experiment.name == "test-empty"
    assert named.model_copy(update={"experiment": load_settings(None, config_dir=config_dir).experiment}) == load_settings(None, config_dir=config_dir)


def test_unknown_experiment_lists_known_ones(config_dir: Path) -> None:
    write_experiment(config_dir, "alpha", "")
    write_experiment(config_dir, "beta", "")
    with pytest.raises(SettingsError) as error:
        load_settings("gamma", config_dir=config_dir)
    message = str(error.value)
    assert "'gamma'" in message
    assert "alpha" in message and "beta" in message


def test_missing_experiment_path_fails(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="not found"):
        load_settings(str(tmp_path / "nowhere.yaml"), config_dir=CONFIG_DIR)


def test_missing_base_names_it(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(None, config_dir=tmp_path)
    assert str(tmp_path / "base.yaml") in str(error.value)


def test_config_dir_from_environment(monkeypatch: pytest.MonkeyPatch, config_dir: Path) -> None:
    write_experiment(config_dir, "only_here", "training:\n  max_steps: 11\n")
    monkeypatch.setenv("T2SQL_CONFIG_DIR", str(config_dir))
    assert load_settings("only_here").training.max_steps == 11


def test_a_gguf_model_needs_its_file() -> None:
    with pytest.raises(SettingsError, match="gguf_file"):
        load_settings("demo", overrides=["model.source=gguf"], config_dir=CONFIG_DIR)


def test_fixed_test_databases_need_the_by_database_mode() -> None:
    with pytest.raises(SettingsError, match="test_databases needs mode 'by_database'"):
        load_settings("demo", overrides=["splits.test_databases=[shop]"], config_dir=CONFIG_DIR)


def test_replacing_a_section_by_a_value_blames_the_override() -> None:
    with pytest.raises(SettingsError) as error:
        load_settings("demo", overrides=["lora=5"], config_dir=CONFIG_DIR)
    assert "override 'lora=5': key 'lora'" in str(error.value) and "demo.yaml" not in str(error.value)


def test_an_experiment_without_a_name_is_refused(config_dir: Path) -> None:
    path = write_experiment(config_dir, "nameless", "training:\n  max_steps: 5\n", named=False)
    with pytest.raises(SettingsError, match=r"nameless.yaml: missing key 'experiment.name'"):
        load_settings("nameless", config_dir=config_dir)
    assert path.is_file()


def test_settings_logged_by_an_older_version_load_with_todays_defaults() -> None:
    """A registered version keeps the settings of its day: sections added since (rl) take base.yaml's
    defaults, keys removed since are dropped, and what it logged is kept."""
    from t2sql_pipeline.core.settings import settings_of_logged_model

    logged = load_settings("demo", ["training.max_steps=7"]).model_dump(mode="json")
    del logged["rl"]
    logged["generation"].pop("strategy")
    logged["training"]["a_setting_since_removed"] = 1
    settings = settings_of_logged_model(logged)
    assert settings.training.max_steps == 7 and settings.rl.enabled is False and settings.generation.strategy == "greedy"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("training.max_steps=true", "key 'training.max_steps': Input should be a valid integer (got True)"),
        ("training.packing=1", "key 'training.packing': Input should be a valid boolean (got 1)"),
        ("lora.r=8.5", "key 'lora.r': Input should be a valid integer (got 8.5)"),
        ('training.learning_rate="0.1"', "key 'training.learning_rate': Input should be a valid number (got '0.1')"),
    ],
)
def test_settings_are_strict_about_types(override: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        load_settings("demo", [override])


def test_an_exponent_float_is_a_float() -> None:
    assert load_settings("demo", ["training.learning_rate=2e-4"]).training.learning_rate == 2e-4  # YAML 1.1 alone reads a string
