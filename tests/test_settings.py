"""Settings declared once: a method's settings and their defaults live in its YAML only (conf/method/<method>.yaml,
and conf/search/evolution.yaml for ``method.search``); runners take no defaults; a setting's range is its type,
checked before anything is written, and a value outside it is one line naming the key, the value and the range."""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from typing import Annotated, Any

import pytest
from annotated_types import Ge, Gt, Interval, Lt, MinLen
from conftest import CONF_DIR, compose_config, run_train
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf

from slimkit.config_checks import HYDRA_KEYS, check_value
from slimkit.errors import ConfigError
from slimkit.pipeline import METHOD_KEYS, check_config
from slimkit.search import EvolutionSearchSettings
from slimkit.settings import build_settings, first_problem, settings_class

METHODS = ["baseline", "dp_quant", "spos", "spos_bits", "metapruning", "meta_sr"]
SEARCH_GROUP = CONF_DIR / "search" / "evolution.yaml"


def test_every_method_is_covered():
    assert sorted(METHODS) == sorted(path.stem for path in (CONF_DIR / "method").glob("*.yaml"))


def runner_parameters(cfg: DictConfig) -> tuple[type, dict[str, inspect.Parameter], dict[str, Any]]:
    runner = get_class(cfg.method.runner._target_)
    parameters = dict(inspect.signature(runner.__init__).parameters)
    parameters.pop("self")
    return runner, parameters, typing.get_type_hints(runner.__init__, include_extras=True)


def settings_of(cfg: DictConfig) -> dict[str, Any]:
    """Every value the runner is built with: the keys of ``method.runner`` and the method's own settings."""
    method = OmegaConf.to_container(cfg.method, resolve=True)
    settings = {key: value for key, value in method.items() if key not in METHOD_KEYS}
    runner_node = {key: value for key, value in method["runner"].items() if key not in HYDRA_KEYS}
    assert not set(settings) & set(runner_node)
    return settings | runner_node


def declared_defaults(method: str, cfg: DictConfig) -> dict[str, Any]:
    """What the method's own file declares (its runner node and settings), its ``search`` block over the shared
    search group when it pulls that in, interpolations resolved against the composed config."""
    own = OmegaConf.load(CONF_DIR / "method" / f"{method}.yaml")
    defaults = OmegaConf.to_container(own.pop("defaults")) if "defaults" in own else []
    if {"/search@search": "evolution"} in defaults:
        own.search = OmegaConf.merge(OmegaConf.load(SEARCH_GROUP), own.get("search") or {})
    elif "search" in own:
        pytest.fail(f"conf/method/{method}.yaml declares a search block without the shared search group")
    scratch = OmegaConf.to_container(cfg)  # unresolved: the files' interpolations resolve as in a run
    scratch["method"] = OmegaConf.to_container(own)
    method_node = OmegaConf.to_container(OmegaConf.create(scratch).method, resolve=True)
    settings = {key: value for key, value in method_node.items() if key not in METHOD_KEYS}
    return settings | {key: value for key, value in method_node["runner"].items() if key not in HYDRA_KEYS}


@pytest.mark.parametrize("method", METHODS)
def test_runner_signatures_hold_no_defaults(method, tmp_path):
    cfg = compose_config([f"method={method}"], tmp_path)
    runner, parameters, hints = runner_parameters(cfg)
    with_default = [name for name, parameter in parameters.items() if parameter.default is not inspect.Parameter.empty]
    assert not with_default, f"{runner.__name__} declares defaults for {with_default}: they belong in the YAML"
    for annotation in hints.values():
        settings = settings_class(annotation)
        if settings is not None:  # method.search, method.pgd: the YAML supplies every field
            fields = dataclasses.fields(settings)
            assert all(f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING for f in fields)


@pytest.mark.parametrize("method", METHODS)
def test_every_setting_is_a_runner_argument_and_every_argument_a_setting(method, tmp_path):
    cfg = compose_config([f"method={method}"], tmp_path)
    _, parameters, hints = runner_parameters(cfg)
    assert set(settings_of(cfg)) == set(parameters)
    for key, value in settings_of(cfg).items():
        settings = settings_class(hints.get(key))
        if settings is not None:
            assert set(value) == {field.name for field in dataclasses.fields(settings)}, key


@pytest.mark.parametrize("method", METHODS)
def test_every_default_is_the_value_of_the_one_file_that_declares_it(method, tmp_path):
    cfg = compose_config([f"method={method}"], tmp_path)
    assert settings_of(cfg) == declared_defaults(method, cfg)


@pytest.mark.parametrize("method", METHODS)
def test_every_default_is_within_its_range(method, tmp_path):
    cfg = compose_config([f"method={method}"], tmp_path)
    runner, _, hints = runner_parameters(cfg)
    for key, value in settings_of(cfg).items():
        settings = settings_class(hints[key])
        if settings is not None and isinstance(value, dict):
            build_settings(settings, value, f"method.{key}")  # fields' types and ranges, and between fields
        else:
            assert first_problem(value, hints[key], key, runner.__name__) is None


def test_weight_sharing_methods_share_one_search_group(tmp_path):
    shared = OmegaConf.to_container(OmegaConf.load(SEARCH_GROUP))
    for method, own in (("spos", {}), ("metapruning", {}), ("spos_bits", {"calibration_batches": 20})):
        search = OmegaConf.to_container(compose_config([f"method={method}"], tmp_path).method.search)
        assert {key: search[key] for key in shared} == shared | own, method


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["experiment=spos_digits", "method.search.population_size=4"],
            "method.search.population_size=4 is out of range: must be >= mutation_count + crossover_count = 16",
        ),
        (
            ["method=spos", "method.search.population_size=0"],
            "method.search.population_size=0 is out of range: must be >= 1",
        ),
        (
            ["method=spos", "method.search.mutation_prob=1.5"],
            "method.search.mutation_prob=1.5 is out of range: must be in [0, 1]",
        ),
        (["method=spos", "method.search.max_flops=0"], "method.search.max_flops=0 is out of range: must be > 0"),
        (["method=metapruning", "method.search.top=0"], "method.search.top=0 is out of range: must be >= 1"),
        (
            ["method=spos_bits", "method.search.holdout_batches=0"],
            "method.search.holdout_batches=0 is out of range: must be >= 1",
        ),
        (["method=dp_quant", "method.sparsity=1.5"], "method.sparsity=1.5 is out of range: must be in [0, 1)"),
        (["method=dp_quant", "method.bits=0"], "method.bits=0 is out of range: must be in [1, 16]"),
        (["method=dp_quant", "method.bits=[4,17]"], "method.bits[1]=17 is out of range: must be in [1, 16]"),
        (["method=dp_quant", "method.bits=[]"], "method.bits=[] is out of range: must have at least 1 item"),
        (["method=dp_quant", "method.pgd.steps=0"], "method.pgd.steps=0 is out of range: must be >= 1"),
        (
            ["method=metapruning", "method.fidelity_samples=-1"],
            "method.fidelity_samples=-1 is out of range: must be >= 0",
        ),
        (["method=meta_sr", "method.halve_every=0"], "method.halve_every=0 is out of range: must be >= 1"),
        (["method.runner.label_smoothing=1.5"], "method.runner.label_smoothing=1.5 is out of range: must be in [0, 1]"),
        (
            ["method=spos", "+method.search.popsize=3"],
            "method.search.popsize is not a setting of SposSearchSettings; allowed: population_size, generations, "
            "top_k, mutation_count, mutation_prob, crossover_count, calibration_batches, holdout_batches, top, "
            "progress, accelerator, max_cycles, must_fit, max_flops, max_params, max_latency_ms, latency_batch_size",
        ),
        (["method=spos", "~method.search.top"], "method.search.top is missing: SposSearchSettings needs it"),
        (["method=spos", "method.search.top=many"], "method.search.top='many' has the wrong type: SposSearchSettings"),
    ],
)
def test_a_value_out_of_range_is_one_line_naming_key_value_and_range(overrides, message, tmp_path):
    cfg = compose_config(overrides, tmp_path / "run")
    with pytest.raises(ConfigError) as error:
        check_config(cfg)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("value", "annotation", "message"),
    [
        (None, Annotated[int, Ge(1)] | None, None),
        (0, Annotated[int, Ge(1)] | None, "x=0 is out of range: must be >= 1"),
        (0.5, Annotated[float, Interval(gt=0.5, lt=1)], "x=0.5 is out of range: must be in (0.5, 1)"),
        (1.0, Annotated[float, Lt(1)], "x=1.0 is out of range: must be < 1"),
        ([2, 0], list[Annotated[int, Ge(1)]], "x[1]=0 is out of range: must be >= 1"),
        ([2, "a"], list[Annotated[int, Ge(1)]], "x[1]='a' has the wrong type: f expects int"),
        ([], Annotated[list[int], MinLen(1)], "x=[] is out of range: must have at least 1 item"),
        (3, Annotated[int, Gt(0)] | Annotated[list[Annotated[int, Gt(0)]], MinLen(1)], None),
        ([3, -1], Annotated[int, Gt(0)] | Annotated[list[Annotated[int, Gt(0)]], MinLen(1)], "x[1]=-1 is out"),
    ],
)
def test_ranges_inside_optional_union_and_list_items(value, annotation, message):
    if message is None:
        check_value(value, annotation, "x", "f")
        return
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        check_value(value, annotation, "x", "f")


def test_the_evolution_sweeper_keeps_its_own_values_under_the_same_types():
    from hydra_plugins.slimkit_sweepers.config import CONF_DIR as SWEEPER_CONF
    from hydra_plugins.slimkit_sweepers.evolution_sweeper import EvolutionSweeper

    node = OmegaConf.load(SWEEPER_CONF / "evolution.yaml")
    keys = [field.name for field in dataclasses.fields(EvolutionSearchSettings)]
    values = {key: node[key] for key in keys if key != "direction"}
    assert values == dict(
        population_size=6,
        generations=3,
        top_k=3,
        mutation_count=2,
        mutation_prob=0.3,
        crossover_count=2,
        seed=0,
        max_attempts=1000,
    )
    sweeper = EvolutionSweeper(study_name="s", direction="maximize", **values)
    assert sweeper.settings == EvolutionSearchSettings(direction="maximize", **values)
    with pytest.raises(ConfigError, match=re.escape("hydra.sweeper.top_k=0 is out of range: must be >= 1")):
        EvolutionSweeper(study_name="s", **{**values, "top_k": 0})
    with pytest.raises(ConfigError, match=re.escape("hydra.sweeper.populaton_size is not a setting")):
        EvolutionSweeper(study_name="s", populaton_size=6, **values)


@pytest.mark.slow
def test_a_search_setting_out_of_range_stops_train_py_in_one_line_before_anything_is_written(tmp_path):
    run_dir = tmp_path / "run"
    result = run_train(["experiment=spos_digits", "method.search.population_size=4", f"hydra.run.dir={run_dir}"])
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: method.search.population_size=4 is out of range: must be >= mutation_count + crossover_count = 16"
    ]
    # nothing written: only the job's log file, which Hydra opens before the job starts, and it is empty
    assert [path.name for path in run_dir.iterdir()] == ["train.log"] and not (run_dir / "train.log").read_text()
