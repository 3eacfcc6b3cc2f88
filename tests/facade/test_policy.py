"""Policy files: validation with file/line/key/allowed values, precedence of sources, rule matching."""

import dataclasses
import textwrap

import pytest

import facade
from facade.devices import DeviceFacts, GpuDevice, devices
from facade.policy import Policy, decide, find_policy_file, load_policy, resolve_policy


def write(tmp_path, text, name="policy.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_a_typo_in_a_key_names_the_key_its_line_and_the_allowed_keys(tmp_path):
    path = write(tmp_path, """\
        prefer = ["onnxruntime:cpu"]

        [[rules]]
        match = { os = "linux" }

        [[rules]]
        match = { os = "android", gpu_vendr = "ARM*" }
        deny = ["*:opencl"]
        """)
    with pytest.raises(facade.FacadeError) as err:
        load_policy(path)
    text = str(err.value)
    assert isinstance(err.value, facade.PolicyError)
    assert f"{path}:7 |" in text and "'gpu_vendr'" in text and "rules[1].match.gpu_vendr" in text
    assert "gpu_vendor" in text  # allowed keys and the suggestion


@pytest.mark.parametrize(("body", "line", "needle"), [
    ('precision = "fp8"\n', 1, "fp32 | fp16 | int8"),
    ('select = "fastest"\n', 1, "order | benchmark"),
    ('deny = ["onnxruntim:cpu"]\n', 1, "matches no known target"),
    ('deny = "*:opencl"\n', 1, "list of target globs"),
    ('[targets."onnxruntime:cpu"]\nthreads = 0\n', 2, "integer >= 1"),
    ('[targets."onnxruntime:cpu"]\nthread = 2\n', 2, "Did you mean 'threads'"),
    ('[[rules]]\nmatch = { android_api = "newest" }\n', 2, '">=29"'),
    ('colour = "red"\n', 1, "Unknown key 'colour'"),
    ('[[rules]]\nwhen = { os = "linux" }\n', 2, "Did you mean 'match'?"),  # by meaning: not 'deny'
    ('block = ["ncnn:*"]\n', 1, "Did you mean 'deny'?"),
])
def test_bad_values_name_line_and_allowed_values(tmp_path, body, line, needle):
    path = write(tmp_path, body)
    with pytest.raises(facade.PolicyError, match=rf"{path}:{line} \|") as err:
        load_policy(path)
    assert needle in str(err.value)


def test_invalid_toml_names_the_file(tmp_path):
    path = write(tmp_path, 'prefer = ["x"\n')
    with pytest.raises(facade.PolicyError, match="Invalid TOML"):
        load_policy(path)


def test_yaml_policies_validate_the_same_way(tmp_path):
    pytest.importorskip("yaml")
    path = write(tmp_path, "deny: ['native:*']\nrules:\n  - match: {os: linux}\n    prefre: ['native:cpu']\n",
                 "policy.yaml")
    with pytest.raises(facade.PolicyError, match=rf"{path}:4 \|.*'prefre'"):
        load_policy(path)
    ok = write(tmp_path, "deny: ['native:*']\n", "ok.yml")
    assert load_policy(ok).rules[-1].deny == ("native:*",)


def test_precedence_env_then_project_file_then_user_config(tmp_path, monkeypatch):
    monkeypatch.delenv("FACADE_POLICY", raising=False)
    project = tmp_path / "app" / "src"
    project.mkdir(parents=True)
    monkeypatch.chdir(project)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert find_policy_file() is None
    (tmp_path / "config" / "facade").mkdir(parents=True)
    user = write(tmp_path / "config" / "facade", 'deny = ["native:*"]\n')
    assert find_policy_file() == user
    proj = write(tmp_path / "app", 'prefer = ["native:cpu"]\n', "facade.toml")
    assert find_policy_file() == proj  # found in a parent of the working directory
    env = write(tmp_path, 'select = "benchmark"\n', "env.toml")
    monkeypatch.setenv("FACADE_POLICY", str(env))
    assert find_policy_file() == env
    assert resolve_policy().source == str(env)
    explicit = {"deny": ["native:opencl"]}
    assert resolve_policy(explicit).rules[-1].deny == ("native:opencl",)  # an argument beats everything


def test_unsupported_policy_argument():
    with pytest.raises(facade.PolicyError, match="Unsupported policy argument"):
        resolve_policy(42)


def _facts(**changes) -> DeviceFacts:
    return dataclasses.replace(devices(), **changes)


def _denied(policy: dict, facts: DeviceFacts, target: str) -> bool:
    p = resolve_policy(policy)
    return decide(list(p.rules), p.source, facts, None).verdict(target)[0]


def test_gpu_keys_must_hold_for_the_same_gpu():
    mali = GpuDevice("opencl", "Mali-G78", "ARM", "gpu", "r19p0")
    adreno = GpuDevice("vulkan", "Adreno 640", "Qualcomm", "integrated", "512.530")
    facts = _facts(os="android", android_api=30, gpus=(mali, adreno))
    rule = {"rules": [{"match": {"gpu_vendor": "arm*", "gpu_driver": "r1?p*"}, "deny": ["*:opencl"]}]}
    assert _denied(rule, facts, "native:opencl")
    mixed = {"rules": [{"match": {"gpu_vendor": "ARM", "gpu_name": "Adreno*"}, "deny": ["*:opencl"]}]}
    assert not _denied(mixed, facts, "native:opencl")


@pytest.mark.parametrize(("condition", "level", "holds"), [
    (">=29", 30, True), (">=29", 28, False), ("<24", 23, True), ("27", 27, True), (27, 28, False), (">=1", None, False),
])
def test_android_api_conditions(condition, level, holds):
    facts = _facts(os="android", android_api=level)
    assert _denied({"rules": [{"match": {"android_api": condition}, "deny": ["native:cpu"]}]}, facts,
                   "native:cpu") is holds


def test_later_rules_refine_earlier_ones_and_allow_lifts_a_deny():
    policy = {"deny": ["native:*"], "prefer": ["native:cpu"], "precision": "fp16",
              "rules": [{"match": {"os": devices().os}, "allow": ["native:cpu"], "prefer": ["onnxruntime:cpu"],
                         "precision": "fp32"}]}
    p = resolve_policy(policy)
    d = decide(list(p.rules), p.source, devices(), None)
    assert d.verdict("native:cpu")[0] is False and d.verdict("native:opencl")[0] is True
    assert d.preference("onnxruntime:cpu")[0] < d.preference("native:cpu")[0]
    assert d.precision[0] == "fp32"


def test_shipped_known_bad_list_applies_and_ops_can_replace_or_drop_it(tmp_path):
    old_android = _facts(os="android", android_api=23)
    assert _denied({}, old_android, "native:opencl") is False
    assert resolve_policy({}).rules[0].label.startswith("known_bad")
    p = resolve_policy({})
    assert decide(list(p.rules), p.source, old_android, None).verdict("onnxruntime:nnapi")[0]
    assert not any(r.label.startswith("known_bad") for r in resolve_policy({"known_bad": False}).rules)
    own = write(tmp_path, '[[rules]]\nname = "ours"\nmatch = { os = "linux" }\ndeny = ["native:cpu"]\n', "bad.toml")
    policy = write(tmp_path, 'known_bad = "bad.toml"\n')
    loaded = load_policy(policy)
    assert any(r.label == "known_bad rules[0] 'ours'" for r in loaded.rules) and own.exists()
    assert decide(list(loaded.rules), loaded.source, _facts(os="linux"), None).verdict("native:cpu")[0]


def test_policy_object_is_accepted_as_is():
    p = resolve_policy({"prefer": ["native:cpu"]})
    assert isinstance(p, Policy) and resolve_policy(p) is p


def test_every_problem_of_a_file_in_one_run_in_file_order(tmp_path):
    path = write(tmp_path, """\
        prefer = ["tensorrt:gpu", "onnxruntime:cpu"]
        selcet = "benchmark"

        [[rules]]
        match = { os = "android", gpu_vendr = "ARM*" }
        deny = ["ncnn:gpu"]

        [targets."onnxruntime:cpu"]
        thread = 2
        """)
    with pytest.raises(facade.PolicyError) as err:
        load_policy(path)
    problems = err.value.problems
    assert [p.split(" |")[0] for p in problems] == [f"{path}:{n}" for n in (1, 2, 5, 6, 9)]
    text = str(err.value)
    assert text.startswith(f"{path} | 5 problems\n")
    assert "Unknown engine 'tensorrt'; engines: onnxruntime, litert" in text and "litert:gpu" not in text
    assert "ncnn has no unit 'gpu'; its units: cpu, vulkan. Did you mean 'ncnn:vulkan'?" in text
    assert "at rules[0].match.gpu_vendr" in text and "Did you mean 'gpu_vendor'?" in text
    assert "keys below" not in text and not any(p.endswith("?.") for p in problems)


@pytest.mark.parametrize(("glob", "hint"), [
    ("tensorrt:gpu", "Unknown engine 'tensorrt'; engines: onnxruntime"),
    ("onnxruntim:cpu", "Unknown engine 'onnxruntim'. Did you mean 'onnxruntime:cpu'?"),
    ("litert:npu", "Did you mean 'litert:nnapi'?"),  # by hardware class, not by spelling ('gpu')
    ("coreml:gpu", "coreml has no unit 'gpu'; its units: cpu, all, ane"),  # no GPU unit: no guess
    ("mnn:opencll", "Did you mean 'mnn:opencl'?"),
])
def test_target_suggestions_by_engine_then_unit(tmp_path, glob, hint):
    path = write(tmp_path, f'deny = ["{glob}"]\n')
    with pytest.raises(facade.PolicyError) as err:
        load_policy(path)
    assert hint in str(err.value) and str(err.value).endswith((".", "?")) and not str(err.value).endswith("?.")
