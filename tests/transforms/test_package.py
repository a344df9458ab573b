import ast
import sys
from pathlib import Path

import transforms
from transforms import catalogue, helpers

PACKAGE_DIR = Path(transforms.__file__).parent


def test_public_names() -> None:
    assert transforms.__all__ == [
        "EVENT_TYPES",
        "HELPERS",
        "TEMPLATES",
        "real_samples",
        "sample",
        "samples",
        "template",
        "templates",
    ]
    for name in transforms.__all__:
        assert getattr(transforms, name) is not None
    for module in (catalogue, helpers):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"


def test_transforms_imports_only_the_standard_library() -> None:
    for path in PACKAGE_DIR.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                roots = [(node.module or "").split(".")[0]]
            else:
                continue
            for root in roots:
                assert root in sys.stdlib_module_names or root == "transforms", (
                    f"{path.relative_to(PACKAGE_DIR)} imports {root}"
                )


def test_helpers_are_plain_functions_of_the_helpers_module() -> None:
    for name, function in transforms.HELPERS.items():
        assert callable(function)
        assert function.__module__ == "transforms.helpers", name
