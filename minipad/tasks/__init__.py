"""The tasks minipad trains on. A new task is one module here and one entry in TASKS (see base.py)."""
from .addition import Addition
from .base import FORMATS, Example, Task, Verdict
from .polynomial import Polynomial
from .program import Program

TASKS = {task.name: task for task in (Addition(), Polynomial(), Program())}
DEFAULT_TASK = "addition"   # what --task is when it is not given: the paper's first task


def get_task(name: str) -> Task:
    """The task called ``name``; ValueError naming the choices otherwise."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}: choose one of {', '.join(TASKS)}")
    return TASKS[name]


__all__ = ["DEFAULT_TASK", "TASKS", "FORMATS", "Example", "Task", "Verdict", "get_task"]
