"""launch/retinaface.launch.py, config/detector.yaml and config/retinaface.rviz, checked without `launch`.

`launch` / `launch_ros` are not installable here, so the launch file is parsed with ``ast``: its arguments,
executables, parameter overrides and files must exist and agree with the node's declared parameters.
"""

from __future__ import annotations

import ast
import re

import pytest
import yaml
from ros_helpers import REPO_ROOT

from retinaface_ros.ros.params import PARAMETER_NAMES, SPECS, DetectorParams

LAUNCH_FILE = REPO_ROOT / "launch" / "retinaface.launch.py"
DETECTOR_YAML = REPO_ROOT / "config" / "detector.yaml"
RVIZ = REPO_ROOT / "config" / "retinaface.rviz"
REQUIRED_ARGS = {
    "image_topic",
    "namespace",
    "params_file",
    "model_path",
    "device",
    "runtime",
    "use_compressed",
    "qos_reliability",
    "tracking",
    "detect_rate_hz",
    "start_trainer",
}


@pytest.fixture(scope="module")
def tree() -> ast.Module:
    source = LAUNCH_FILE.read_text()
    compile(source, str(LAUNCH_FILE), "exec")
    return ast.parse(source)


def calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == name]


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def value(tree: ast.Module, node: ast.expr):
    """A literal, or a module-level constant it names (e.g. PACKAGE)."""
    if isinstance(node, ast.Name):
        for stmt in tree.body:
            if isinstance(stmt, ast.Assign) and any(getattr(t, "id", None) == node.id for t in stmt.targets):
                return ast.literal_eval(stmt.value)
    return ast.literal_eval(node)


def constants(node: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def console_scripts() -> set[str]:
    setup = (REPO_ROOT / "setup.py").read_text()
    return set(re.findall(r'"(\w+) = retinaface_ros\.[\w.]+:main"', setup))


def test_defines_generate_launch_description(tree):
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "generate_launch_description" in names


def test_arguments(tree):
    declared = {ast.literal_eval(c.args[0]) for c in calls(tree, "DeclareLaunchArgument")}
    assert declared >= REQUIRED_ARGS
    performed = set()
    for comp in ast.walk(tree):  # {name: LaunchConfiguration(name).perform(context) for name in (...)}
        if isinstance(comp, ast.DictComp) and isinstance(comp.generators[0].iter, ast.Tuple):
            performed |= {ast.literal_eval(e) for e in comp.generators[0].iter.elts}
    assert performed == declared, "every declared argument is read, and only those"
    defaults = {
        ast.literal_eval(c.args[0]): keyword(c, "default_value") for c in calls(tree, "DeclareLaunchArgument")
    }
    assert ast.literal_eval(defaults["start_trainer"]) == "false"


def test_nodes_executables_and_files(tree):
    nodes = calls(tree, "Node")
    assert {value(tree, keyword(n, "package")) for n in nodes} == {"retinaface_ros", "rviz2"}
    ours = [n for n in nodes if value(tree, keyword(n, "package")) == "retinaface_ros"]
    executables = {n: value(tree, keyword(n, "executable")) for n in ours}
    assert set(executables.values()) == {"detector_node", "trainer_node"}
    assert set(executables.values()) <= console_scripts()
    detector = next(n for n, exe in executables.items() if exe == "detector_node")
    assert ast.literal_eval(keyword(detector, "name")) == "retinaface_detector"
    remapped = {ast.literal_eval(pair.elts[0]) for pair in keyword(detector, "remappings").elts}
    assert remapped == {"image", "image/compressed"}  # the node's relative input topics
    files = {c for c in constants(tree) if c.endswith((".yaml", ".rviz"))}
    assert {"detector.yaml", "trainer.yaml", "retinaface.rviz"} <= files
    for name in files:
        assert (REPO_ROOT / "config" / name).is_file(), name


def test_parameter_overrides_are_declared_parameters(tree):
    overridden = {
        ast.literal_eval(t.slice)
        for n in ast.walk(tree)
        if isinstance(n, ast.Assign)
        for t in n.targets
        if isinstance(t, ast.Subscript) and getattr(t.value, "id", None) == "overrides"
    }
    assert overridden == {
        "model_path",
        "device",
        "runtime",
        "use_compressed",
        "qos_reliability",
        "tracking",
        "detect_rate_hz",
        "anonymize",
        "hri",
    }
    assert overridden <= set(PARAMETER_NAMES)


def test_detector_yaml_matches_declared_parameters():
    document = yaml.safe_load(DETECTOR_YAML.read_text())
    assert list(document) == ["/**/retinaface_detector"]  # any namespace
    values = document["/**/retinaface_detector"]["ros__parameters"]
    assert list(values) == list(PARAMETER_NAMES)
    params = DetectorParams.from_values(values)
    for name, value in values.items():  # same ROS type as the declaration, or rclpy refuses the file
        default = SPECS[name].default
        if not SPECS[name].dynamic_typing:
            assert type(value) is type(default), name
        assert value == default or name == "fp16", f"{name}: YAML and declared default disagree"
    assert params.as_values() == {**values, "scales": list(values["scales"])}


def test_trainer_yaml_applies_in_any_namespace():
    document = yaml.safe_load((REPO_ROOT / "config" / "trainer.yaml").read_text())
    assert list(document) == ["/**/retinaface_trainer"]  # a plain key would miss a namespaced trainer
    assert set(document["/**/retinaface_trainer"]["ros__parameters"]) == {
        "log_after",
        "default_device",
        "deploy_to",
        "image_size",
        "workdir",
        "tensorboard_dir",
    }


def test_rviz_config():
    config = yaml.safe_load(RVIZ.read_text())
    manager = config["Visualization Manager"]
    assert manager["Global Options"]["Fixed Frame"]
    images = [d for d in manager["Displays"] if d["Class"] == "rviz_default_plugins/Image"]
    assert [d["Topic"]["Value"] for d in images] == ["image_annotated"]


def test_setup_installs_launch_and_config():
    setup = (REPO_ROOT / "setup.py").read_text()
    assert 'glob("launch/*.py")' in setup and 'glob("config/*")' in setup
    assert {"detector_node", "image_publisher"} <= console_scripts()
