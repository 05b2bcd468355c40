"""Nothing outside minipad/tasks/ names a task: training, evaluation and the command line ask the task.

What counts as naming a task, in a module of minipad/ outside minipad/tasks/:
  * a string literal that holds a task's name as a word (how ``task.name == "addition"``, a default of
    "addition" or a help text "addition: ..." would be written), docstrings excepted: prose may use a task
    as its example, code may not depend on one;
  * an identifier with a task's name as one of its words (``Addition``, ``addition_steps``);
  * an import of a task's module (``from .tasks.addition import ...``).
Comments are prose too. The lessons may name tasks: they teach them. The default task is named once, in
minipad/tasks/__init__.py (DEFAULT_TASK).
"""
import ast
import re
from pathlib import Path

import pytest

import minipad
from minipad.tasks import TASKS

PACKAGE = Path(minipad.__file__).parent
OUTSIDE_TASKS = sorted(path for path in PACKAGE.rglob("*.py") if PACKAGE / "tasks" not in path.parents)


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings (first statement of a module, class or function)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                found.add(id(first.value))
    return found


def _identifier_words(identifier: str) -> set[str]:
    """'addition_steps' -> {'addition', 'steps'}; 'PolynomialOptions' -> {'polynomial', 'options'}."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", identifier)
    return {word.lower() for word in spaced.split("_") if word}


def task_names_in_code(source: str, names) -> list[str]:
    """Each place in ``source`` that names one of the tasks ``names``, as 'line N: what'."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    in_text = re.compile(r"\b(?:" + "|".join(re.escape(name) for name in names) + r")s?\b", re.IGNORECASE)
    names = {name.lower() for name in names} | {name.lower() + "s" for name in names}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if in_text.search(node.value):
                found.append(f"line {node.lineno}: string {node.value!r}")
        identifiers = []
        if isinstance(node, ast.Name):
            identifiers = [node.id]
        elif isinstance(node, ast.Attribute):
            identifiers = [node.attr]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            identifiers = [node.name]
        elif isinstance(node, ast.arg):
            identifiers = [node.arg]
        elif isinstance(node, ast.alias):
            identifiers = [part for part in node.name.split(".")] + [node.asname or ""]
        elif isinstance(node, ast.ImportFrom):
            identifiers = (node.module or "").split(".")
        for identifier in identifiers:
            if _identifier_words(identifier) & names:
                found.append(f"line {getattr(node, 'lineno', '?')}: identifier {identifier!r}")
    return found


def test_the_check_catches_every_way_of_naming_a_task():
    names = list(TASKS)
    name = names[0]
    caught = [
        f'if task.name == "{name}":\n    pass\n',
        f'out = f"runs/{name}-{{fmt}}"\n',
        f'HELP = "{name}: fewest digits per operand"\n',
        f'HELP = "e.g. 2; for {name}s 3"\n',
        f'from .tasks.{name} import SOMETHING\n',
        f'{name}_steps = 3\n',
        f'task = {name.capitalize()}()\n',
        f'def run(task="{name}"):\n    return task\n',
    ]
    for source in caught:
        assert task_names_in_code(source, names), source
    fine = f'"""Sizes: {name} counts digits."""\n# {name} is an example in a comment\nsize_name = task.size_name\n'
    assert task_names_in_code(fine, names) == []


@pytest.mark.parametrize("path", OUTSIDE_TASKS, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_no_module_outside_tasks_names_a_task(path):
    found = task_names_in_code(path.read_text(encoding="utf-8"), list(TASKS))
    assert not found, (f"{path.relative_to(PACKAGE.parent)} names a task; ask the task instead "
                       f"(minipad/tasks/base.py): " + "; ".join(found))


def test_modules_outside_tasks_were_found():
    names = {path.relative_to(PACKAGE).as_posix() for path in OUTSIDE_TASKS}
    assert {"config.py", "train.py", "evaluate.py", "cli/__init__.py", "cli/options.py", "cli/data.py"} <= names
