"""Run a small program line by line and record what the paper's trace shows: each line, and the variables
just before it runs.

Running is real: the program is compiled and executed by Python, with ``sys.settrace`` calling us before
every line of the program's two frames (the module and the function ``f``). It runs in a namespace with
no builtins, after ``parse_program`` has checked that every node of its syntax tree is one of the few the
grammar allows (minipad/tasks/program.py), so it can only assign, compare, loop and return. A program
that raises, runs more than ``step_limit`` lines or makes a value larger than ``value_limit`` is stopped
and refused with a ValueError that says which.
"""
from __future__ import annotations

import ast
import json
import re
import sys
from dataclasses import dataclass

STEP_LIMIT = 200          # lines any program may run
VALUE_LIMIT = 10**6       # largest value (in size) any program may make
FILENAME = "<program>"
FUNCTION = "f"
CALLABLE = "<callable_object f>"
INDENT = "  "

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_COMPARISONS = (ast.Lt, ast.Gt, ast.LtE, ast.GtE, ast.Eq, ast.NotEq)
_OPERATORS = (ast.Add, ast.Sub, ast.Mult)


@dataclass(frozen=True)
class Step:
    """One line as it runs: the line's text and the variables of its frame just before it."""
    line: str            # e.g. "  c += b" (the source line, indentation included)
    state: dict          # e.g. {"a": 2, "b": 3, "c": 0}; the function is CALLABLE
    frame: str           # "module" or "f": whose variables these are

    @property
    def state_text(self) -> str:
        return json.dumps(self.state)


@dataclass(frozen=True)
class ProgramRun:
    """A program and what running it did."""
    source: str                # the program in the trace's layout
    steps: tuple               # Step per line run, in order
    final_state: dict          # the module's variables at the end: {"f": CALLABLE, "output": 6}
    output: int

    @property
    def final_state_text(self) -> str:
        return json.dumps(self.final_state)


# -------------------------------------------------------------------------------------------- grammar
def parse_program(text: str) -> str:
    """The program in ``text`` rewritten in the trace's layout (two spaces per indent, Python's spacing,
    no comments or blank lines); ValueError with one line if it is not Python or not in the grammar."""
    lines = ast.unparse(_checked_tree(text)).split("\n")
    return "\n".join(_reindent(line) for line in lines)


def _checked_tree(text: str) -> ast.Module:
    """The syntax tree of ``text``; ValueError unless it is Python and in the grammar."""
    try:
        tree = ast.parse(text)
    except SyntaxError as error:
        raise ValueError(f"not Python: {error.msg} (line {error.lineno})") from None
    except (ValueError, RecursionError, MemoryError) as error:
        raise ValueError(f"not Python: {error}") from None
    _check_module(tree)
    return tree


def _reindent(line: str) -> str:
    stripped = line.lstrip(" ")
    return INDENT * ((len(line) - len(stripped)) // 4) + stripped


def _refuse(node, rule: str):
    """ValueError naming the line and the text outside the grammar, and the rule it breaks."""
    text = ast.unparse(node).split("\n")[0]
    raise ValueError(f"line {node.lineno}: {text!r} is outside the program grammar ({rule})")


def _check_module(tree: ast.Module) -> None:
    body = tree.body
    if (len(body) != 2 or not isinstance(body[0], ast.FunctionDef) or not isinstance(body[1], ast.Assign)):
        raise ValueError("a program is one function 'def f(...):' and then one line 'output = f(...)'")
    function, call_line = body
    arguments = function.args
    if (function.name != FUNCTION or function.decorator_list or function.returns or arguments.posonlyargs
            or arguments.vararg or arguments.kwonlyargs or arguments.kwarg or arguments.defaults
            or any(argument.annotation for argument in arguments.args)):
        _refuse(function, "write the function as 'def f(a, b):' with plain parameters")
    parameters = [argument.arg for argument in arguments.args]
    for name in parameters:
        _check_name(name, function)
    if len(set(parameters)) != len(parameters):
        _refuse(function, "a parameter is named twice")
    if not function.body or not isinstance(function.body[-1], ast.Return):
        _refuse(function, "the function ends with 'return'")
    _check_block(function.body[:-1])
    if function.body[-1].value is None:
        _refuse(function.body[-1], "'return' needs a value")
    _check_atom(function.body[-1].value)
    call = call_line.value
    if (len(call_line.targets) != 1 or not isinstance(call_line.targets[0], ast.Name)
            or call_line.targets[0].id != "output" or not isinstance(call, ast.Call)
            or not isinstance(call.func, ast.Name) or call.func.id != FUNCTION or call.keywords):
        _refuse(call_line, "the last line is 'output = f(...)'")
    if len(call.args) != len(parameters):
        _refuse(call_line, f"f takes {len(parameters)} arguments")
    for argument in call.args:
        _check_integer(argument)


def _check_block(statements: list) -> None:
    for statement in statements:
        if isinstance(statement, ast.Assign):
            if len(statement.targets) != 1 or not isinstance(statement.targets[0], ast.Name):
                _refuse(statement, "an assignment sets one variable")
            _check_name(statement.targets[0].id, statement)
            _check_atom(statement.value)
        elif isinstance(statement, ast.AugAssign):
            if not isinstance(statement.target, ast.Name) or not isinstance(statement.op, _OPERATORS):
                _refuse(statement, "only +=, -= and *= on a variable")
            _check_name(statement.target.id, statement)
            _check_atom(statement.value)
        elif isinstance(statement, (ast.If, ast.While)):
            _check_comparison(statement.test)
            if isinstance(statement, ast.While) and statement.orelse:
                _refuse(statement, "no 'else' after a loop")
            _check_block(statement.body)
            _check_block(statement.orelse)
        elif isinstance(statement, ast.Return):
            _refuse(statement, "'return' only as the function's last line")
        else:
            _refuse(statement, "statements are assignments, if/else, while and return")


def _check_comparison(node) -> None:
    if not (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], _COMPARISONS)):
        _refuse(node, "a condition is one comparison such as 'a < 3'")
    _check_atom(node.left)
    _check_atom(node.comparators[0])


def _check_atom(node) -> None:
    if isinstance(node, ast.Name):
        _check_name(node.id, node)
    else:
        _check_integer(node)


def _check_integer(node) -> None:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    if not (isinstance(node, ast.Constant) and type(node.value) is int):
        _refuse(node, "a value is a variable or a whole number")


def _check_name(name: str, node) -> None:
    if not _NAME.match(name) or name in (FUNCTION, "output"):
        _refuse(node, "variable names are lowercase letters, digits and _, and not f or output")


# -------------------------------------------------------------------------------------------- running
class _Stop(Exception):
    """Raised inside the traced program to stop it; carries the reason."""


def run_program(source: str, step_limit: int = STEP_LIMIT, value_limit: int = VALUE_LIMIT) -> ProgramRun:
    """Run a program and record its trace; the trace shows its lines as they are written, so give it
    programs in the trace's layout (the generator writes them so; ``parse_program`` rewrites others).

    ValueError if the text is not in the grammar, raises, runs more than step_limit lines, or makes a value
    outside -value_limit..value_limit (the last two are checked before every line).
    """
    tree = _checked_tree(source)   # nothing outside the grammar ever runs
    lines = source.split("\n")
    steps = []

    def variables(frame) -> dict:
        state = {}
        for name, value in frame.f_locals.items():
            if name.startswith("__"):
                continue
            if callable(value):
                state[name] = CALLABLE
            else:
                if abs(value) > value_limit:
                    raise _Stop(f"makes {name} = {value}, beyond {value_limit}")
                state[name] = value
        return state

    def trace_line(frame, event, argument):
        if event == "line":
            if len(steps) == step_limit:
                raise _Stop(f"runs more than {step_limit} lines")
            frame_name = "module" if frame.f_code.co_name == "<module>" else FUNCTION
            steps.append(Step(lines[frame.f_lineno - 1], variables(frame), frame_name))
        return trace_line

    def trace_call(frame, event, argument):
        return trace_line if frame.f_code.co_filename == FILENAME else None

    namespace = {"__builtins__": {}}
    code = compile(tree, FILENAME, "exec")
    previous_tracer = sys.gettrace()
    sys.settrace(trace_call)
    try:
        exec(code, namespace)
    except _Stop as stop:
        raise ValueError(f"the program {stop}") from None
    except Exception as error:   # the program's own error, e.g. a variable used before it is set
        raise ValueError(f"the program raises {type(error).__name__}: {error}") from None
    finally:
        sys.settrace(previous_tracer)
    final_state = {name: (CALLABLE if callable(value) else value) for name, value in namespace.items()
                   if not name.startswith("__")}
    if abs(final_state["output"]) > value_limit:
        raise ValueError(f"the program makes output = {final_state['output']}, beyond {value_limit}")
    return ProgramRun(source, tuple(steps), final_state, final_state["output"])
