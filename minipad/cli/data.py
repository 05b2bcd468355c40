"""minipad data: print examples of a task in the paper's formats, or write a dataset as JSONL."""
from __future__ import annotations

import sys

from ..data import (DEFAULT_SIZES, SPLITS, iterate_examples, jsonl_lines, sample_problem, split_options, split_rng,
                    write_jsonl)
from ..errors import UserError
from ..tasks import get_task
from .arguments import non_negative_int, positive_int
from .options import (add_task_and_format_arguments, add_task_option_arguments, given_task_options, problem_examples,
                      problem_text, writable_file)

SUMMARY = "print or write examples of a task in the paper's formats"


def add_arguments(parser) -> None:
    add_task_and_format_arguments(parser)
    parser.add_argument("--split", choices=SPLITS, default="train",
                        help="train, test (same distribution, held-out problems) or ood (just beyond the training "
                             "options, as the task defines it)")
    parser.add_argument("-n", type=positive_int, default=None,
                        help="number of examples (default: 5 printed; the paper's split size with --out)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default: 0)")
    parser.add_argument("--comments", action="store_true",
                        help="show reader comments after each scratchpad step (display only, never in --out)")
    parser.add_argument("--out", default=None,
                        help="write JSONL {input, target} lines to this file instead of printing "
                             "('-': to standard output)")
    parser.add_argument("--problem", default=None,
                        help=f"render this one problem instead of drawing some, e.g. {problem_examples()}")
    add_task_option_arguments(parser)


def run(args) -> int:
    task = get_task(args.task)
    try:
        options = task.make_options(given_task_options(args))   # the training options
        drawn_with = split_options(task, args.split, options)
    except ValueError as error:
        raise UserError(str(error)) from None
    if args.out is not None:
        if args.out != "-":
            writable_file(args.out)
        if args.comments:
            raise UserError("--comments is for reading only and cannot go into --out training data")
    if args.problem is not None:
        if args.out is not None:
            raise UserError("--problem prints one example; leave out --out (or --problem to write a dataset)")
        try:
            problem = task.parse_input(problem_text(args.problem))
        except ValueError as error:
            raise UserError(str(error)) from None
        example = task.render(problem, args.format, comments=args.comments)
        print(example.input)
        print(example.target)
        return 0
    n = args.n or (DEFAULT_SIZES[args.split] if args.out else 5)
    rng = split_rng(args.seed, args.split)
    if args.out is not None:
        examples = iterate_examples(task, args.split, n, args.format, rng, options)   # streamed, never a list
        if args.out == "-":   # the JSONL alone on standard output, for a pipe
            sys.stdout.writelines(jsonl_lines(examples))
            return 0
        write_jsonl(args.out, examples)
        print(f"wrote {n} {task.name} {args.format} examples ({args.split} split, seed {args.seed}) to {args.out}")
        return 0
    for index in range(n):
        problem = sample_problem(task, args.split, rng, drawn_with)
        example = task.render(problem, args.format, comments=args.comments)
        if index:
            print()
        print(example.input)
        print(example.target)
    return 0
