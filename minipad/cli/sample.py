"""minipad sample: load a checkpoint and let its model work one problem; the checker marks the first wrong
line of what it wrote."""
from __future__ import annotations

from ..checkpoint import load_model
from ..data import prompt_text
from ..errors import UserError
from ..tasks import get_task
from ..tasks.base import answer_of, mark_lines
from .options import problem_examples, problem_text

SUMMARY = "let a trained model work one problem, with the checker marking its first wrong step"


def add_arguments(parser) -> None:
    parser.add_argument("--checkpoint", required=True, help="a model.npz written by train")
    parser.add_argument("problem", help=f"a problem of the model's task, e.g. {problem_examples()}")


def run(args) -> int:
    from ..evaluate import decode_one   # loads the model's code
    model, config, _, _ = load_model(args.checkpoint)
    task = get_task(config.task)
    try:
        example = task.render(task.parse_input(problem_text(args.problem)), config.format)
        _, written_ids = decode_one(model, task, config.format, example)
    except ValueError as error:   # not a problem of the task, or too long for the model
        raise UserError(str(error)) from None
    written = task.tokenizer().decode(written_ids)
    verdict = task.check(example.input, written, config.format)
    print(prompt_text(example), end="")
    print(mark_lines(written, verdict))
    print()
    right = answer_of(written) == example.answer
    print(f"checker: {verdict.describe()}")
    print(f"answer: {'right' if right else 'wrong'} (the right answer is {example.answer})")
    return 0
