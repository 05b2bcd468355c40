"""minipad show: let a trained model work one problem and look inside while it does: its confidence in
every token it wrote, the checker's verdict, and (--attention) where it looks (minipad/show.py)."""
from __future__ import annotations

from ..checkpoint import load_model
from ..errors import UserError
from ..tasks import get_task
from .arguments import non_negative_int, positive_int, probability
from .options import problem_examples, problem_text, svg_file

SUMMARY = ("let a trained model work one problem: its confidence in every token, the checker's verdict, "
           "and (--attention) where it looks")
LOW_CONFIDENCE = 0.9   # tokens written with a lower probability are marked


def add_arguments(parser) -> None:
    parser.add_argument("--checkpoint", required=True, help="a model.npz written by train")
    parser.add_argument("problem", help=f"a problem of the checkpoint's task, e.g. {problem_examples()}")
    parser.add_argument("--low-confidence", type=probability, default=LOW_CONFIDENCE, metavar="P",
                        help=f"mark tokens written with a probability below P (default: {LOW_CONFIDENCE})")
    parser.add_argument("--attention", action="store_true",
                        help="a heatmap per layer and head: which earlier tokens the model reads while writing "
                             "each token of one line")
    parser.add_argument("--line", type=positive_int, default=None,
                        help="the line for --attention, numbered as the checker does (default: the first wrong "
                             "line, else the line of the least sure token)")
    parser.add_argument("--layer", type=non_negative_int, default=None, help="--attention for this layer only")
    parser.add_argument("--head", type=non_negative_int, default=None, help="--attention for this head only")
    parser.add_argument("--svg", default=None, metavar="FILE.svg",
                        help="also write what is shown as a standalone SVG picture (opens in any browser)")


def run(args) -> int:
    # loads the model's code
    from ..show import choose_line, format_attention, format_summary, format_written, read_problem, svg_picture
    from ..svg import write_svg
    if args.svg is not None:
        svg_file(args.svg)
    model, config, _, meta = load_model(args.checkpoint)
    task = get_task(config.task)
    for name, value, count in (("layer", args.layer, model.config.n_layer), ("head", args.head, model.config.n_head)):
        if value is not None and value >= count:
            raise UserError(f"--{name} {value} does not exist: this model has {name}s 0 to {count - 1}")
    try:
        reading = read_problem(model, task, config.format, problem_text(args.problem))
    except ValueError as error:
        raise UserError(str(error)) from None
    attention = args.attention or any(value is not None for value in (args.line, args.layer, args.head))
    line = choose_line(reading, args.line) if attention else None
    layers = [args.layer] if args.layer is not None else range(model.config.n_layer)
    heads = [args.head] if args.head is not None else range(model.config.n_head)
    heading = f"{args.checkpoint}: {task.name}, {config.format}, step {meta['step']}"
    print(heading)
    print(reading.input)
    print(format_written(reading, args.low_confidence))
    print()
    print(format_summary(reading, args.low_confidence))
    if line is not None:
        print()
        print(format_attention(reading, line, layers, heads))
    if args.svg is not None:
        write_svg(args.svg, svg_picture(reading, heading, args.low_confidence, line, layers, heads))
        print(f"\nsaved {args.svg}")
    return 0
