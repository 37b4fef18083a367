"""Loading settings: `configs/base.yaml`, an experiment's differences and `--set` overrides, merged and validated; errors name the file or override and the key."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from t2sql_pipeline.core.settings.models import PipelineSettings


class SettingsError(ValueError):
    """A configuration problem, naming the file (or override) and the key."""


class _SettingsLoader(yaml.SafeLoader):
    """YAML 1.1 reads `1e-4` (no dot) as a string; settings are strict about numbers, so read it as the float it means."""


_SettingsLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_yaml(text: str) -> Any:
    """`yaml.safe_load`, with exponent floats like `2e-4` read as floats."""
    return yaml.load(text, Loader=_SettingsLoader)  # noqa: S506 - a SafeLoader subclass


def default_config_dir() -> Path:
    """`configs/` of the checkout, or `T2SQL_CONFIG_DIR`."""
    if env := os.environ.get("T2SQL_CONFIG_DIR"):
        return Path(env)
    return Path(__file__).resolve().parents[3] / "configs"


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
        value = load_yaml(raw) if raw.strip() else ""
    except yaml.YAMLError as error:
        raise SettingsError(f"override {text!r}: the value is not valid YAML ({error})") from None
    return key.strip(), value


def settings_of_logged_model(logged: dict[str, Any]) -> PipelineSettings:
    """The settings a registered version was logged with, read by today's code: keys added since it was
    registered take their `base.yaml` defaults (e.g. `rl`), keys removed since are dropped."""
    base_file = default_config_dir() / "base.yaml"
    if not base_file.is_file():  # the package without its checkout: the logged settings alone
        return PipelineSettings.model_validate(logged)
    merged = _read_yaml(base_file)

    def overlay(target: dict[str, Any], update: dict[str, Any]) -> None:
        for key, value in update.items():
            if key not in target:
                continue
            if isinstance(value, dict) and isinstance(target[key], dict):
                overlay(target[key], value)
            else:
                target[key] = value

    overlay(merged, logged)
    return PipelineSettings.model_validate(merged)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
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


def _merge_into(target: dict[str, Any], origins: dict[str, str], update: dict[str, Any], origin: str, *, allow_new: bool, prefix: str = "") -> None:
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
