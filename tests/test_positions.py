"""Position schemes: the task's layout of each token, the ids the model gets, and the model's use of them."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minipad.data import encode_example, make_batch, prompt_text
from minipad.generate import generate
from minipad.gradcheck import TOLERANCE, check_model, format_errors
from minipad.model import GPT, GPTConfig, TokenLayout, visible_keys
from minipad.positions import SequenceLayout, batch_layout, decoding_layouts, needs_layout, training_layout
from minipad.tasks import TASKS, get_task
from minipad.tasks.addition_layout import CARRY, FIRST, RESULT, SECOND, slot_of

ADDITION = get_task("addition")
TOKENIZER = ADDITION.tokenizer()
numbers = st.integers(0, 10**12 - 1)
formats = st.sampled_from(["scratchpad", "direct"])

# The schemes a config can choose, beside plain rotary positions.
LAYOUT_SCHEMES = [
    dict(position_ids="coupled", places=16, line_window=True),
    dict(position_ids="coupled"),
    dict(position_ids="random"),
    dict(places=16),
    dict(position="none", places=16),
    dict(position="learned", places=16, line_window=True),
    dict(position_ids="coupled", places=16, roles=8, line_window=True),
]


def spots(a, b, format="scratchpad"):
    """(token text, TokenSpot) for every token of the sum's whole sequence."""
    example = ADDITION.render((a, b), format)
    ids, _ = encode_example(TOKENIZER, example)
    reader = ADDITION.layout_reader(example.input, format)
    return [(TOKENIZER.vocabulary[i], reader.read(TOKENIZER.vocabulary[i])) for i in ids]


@given(a=numbers, b=numbers)
def test_a_digit_keeps_its_place_on_every_line(a, b):
    """Every digit of an operand, wherever it is copied, has its place in the original number; every
    digit of the answer has its place in the sum."""
    example = ADDITION.render((a, b), "scratchpad")
    pairs = spots(a, b)
    prompt_tokens = len(TOKENIZER.encode(prompt_text(example)))
    input_places = [spot.place for token, spot in pairs[:prompt_tokens] if token.isdigit()]
    assert input_places == list(range(len(str(a)), 0, -1)) + list(range(len(str(b)), 0, -1))
    answer_places = [spot.place for token, spot in pairs[-len(str(a + b)) - 1:-1]]
    assert answer_places == list(range(len(str(a + b)), 0, -1))
    assert all(spot.place == 0 for token, spot in pairs if not token.isdigit())


@given(a=numbers, b=numbers)
def test_every_digit_sits_in_its_column_one_slot_after_the_token_that_writes_it(a, b):
    """Coupled positions: every digit sits at the slot of its column in its field, and the token before
    it (the one that predicts it) one slot before; so the distance from the writer of a digit to the same
    column of the line above (its copy source, or the operands of a new digit) is the same at every length."""
    stride = ADDITION.layout_reader("1 + 1", "scratchpad").line_stride
    field_of_role = {1: FIRST, 2: SECOND, 3: RESULT, 4: CARRY, 5: RESULT, 6: RESULT}
    pairs = spots(a, b)
    position = lambda spot: spot.line * stride + spot.slot
    for index, (token, spot) in enumerate(pairs):
        if not token.isdigit():
            continue
        assert spot.slot == slot_of(field_of_role[spot.role], spot.place), (index, token, spot)
        if index and spot.role != 4:   # the carry is written by " C: ", which stays at column 0 of the result
            assert position(pairs[index - 1][1]) == position(spot) - 1, (index, token, spot)


@given(a=numbers, b=numbers)
def test_each_step_line_is_one_line_below_the_last(a, b):
    lines = [spot.line for token, spot in spots(a, b) if token == " C: "]
    assert lines == list(range(1, max(len(str(a)), len(str(b))) + 2))


@given(a=numbers, b=numbers, format=formats, text=st.text(alphabet="0123456789+ ,C:\n<>/scratch", max_size=60))
def test_the_reader_never_raises_and_gives_places_in_range(a, b, format, text):
    """Whatever a model writes after the prompt gets a spot, with a place no larger than the sum's."""
    example = ADDITION.render((a, b), format)
    reader = ADDITION.layout_reader(example.input, format)
    longest = max(len(str(a)), len(str(b)))
    for token_id in TOKENIZER.encode(prompt_text(example)):
        spot = reader.read(TOKENIZER.vocabulary[token_id])
        assert 0 <= spot.place <= longest + 1
    for character in text:
        spot = reader.read(character)
        assert 0 <= spot.place <= longest + 1 and spot.line >= 0


def test_tasks_without_a_layout_get_plain_positions():
    config = GPTConfig(vocab_size=TOKENIZER.vocab_size, position="rope", position_ids="coupled", places=8,
                       line_window=True)
    for task in TASKS.values():
        if task.layout_reader("1 + 1", "scratchpad") is not None:
            continue
        row = SequenceLayout(config, None, TOKENIZER.vocabulary)
        row.extend([5, 6, 7])
        assert (row.positions, row.places, row.lines, row.roles) == ([0, 1, 2], [0, 0, 0], [0, 0, 0], [0, 0, 0])


@given(seed=st.integers(0, 2**32 - 1))
def test_training_places_are_shifted_by_one_offset_that_stays_in_the_table(seed):
    config = GPTConfig(vocab_size=TOKENIZER.vocab_size, places=20)
    rng = np.random.default_rng(seed)
    examples = [ADDITION.render((int(rng.integers(0, 10**8)), int(rng.integers(0, 10**8))), "scratchpad")
                for _ in range(4)]
    batch = make_batch(TOKENIZER, examples)
    layout = training_layout(config, ADDITION, "scratchpad", TOKENIZER, examples, batch, rng)
    plain = training_layout(config, ADDITION, "scratchpad", TOKENIZER, examples, batch, _NoShift())
    assert layout.places.max() < 20
    for row in range(4):
        digits = plain.places[row] > 0
        offsets = set((layout.places[row] - plain.places[row])[digits])
        assert len(offsets) == 1 and min(offsets) >= 0
        assert (layout.places[row][~digits] == 0).all()


class _NoShift:
    """A stand-in generator that always draws the smallest value: no offset."""
    def integers(self, low, high=None):
        return low


def test_line_window_sees_its_own_line_and_the_one_before_never_the_future():
    lines = np.array([[0, 0, 1, 1, 2, 2, 3]])
    visible = visible_keys(TokenLayout(lines=lines), 7, line_window=True)[0]
    for query in range(7):
        for key in range(7):
            assert visible[query, key] == (key <= query and lines[0, key] >= lines[0, query] - 1)
        assert visible[query, query]


def tiny(dtype="float64", **scheme):
    settings_ = dict(vocab_size=TOKENIZER.vocab_size, n_layer=2, n_head=2, n_embd=8, block_size=200,
                     position="rope", dtype=dtype)
    settings_.update(scheme)
    return GPT(GPTConfig(**settings_), np.random.default_rng(0))


@pytest.mark.parametrize("scheme", LAYOUT_SCHEMES, ids=str)
def test_gradients_match_central_differences_with_every_scheme(scheme):
    """float64, input of every parameter including the place embedding, through the window's mask."""
    model = tiny(**scheme)
    rng = np.random.default_rng(3)
    for array in model.params.values():   # at the 0.02 initialisation some gradients are so small that the
        array += rng.standard_normal(array.shape) * 0.3   # central difference's rounding would dominate
    examples = [ADDITION.render((47, 8), "scratchpad"), ADDITION.render((5, 96), "scratchpad")]
    batch = make_batch(TOKENIZER, examples)
    layout = training_layout(model.config, ADDITION, "scratchpad", TOKENIZER, examples, batch, rng)
    ids, targets, mask = batch.ids[:, :24], batch.targets[:, :24], batch.mask[:, :24]
    layout = TokenLayout(*(None if a is None else a[:, :24] for a in layout))
    mask = mask.copy()
    mask[:, :] = rng.random(mask.shape) < 0.7   # count most positions, so every token's gradient is checked
    errors = check_model(model, ids, targets, mask, rng, max_entries=12, layout=layout)
    assert set(errors) == set(model.params)
    assert max(errors.values()) <= TOLERANCE, format_errors(errors)


@pytest.mark.parametrize("scheme", LAYOUT_SCHEMES, ids=str)
@settings(max_examples=5)
@given(seed=st.integers(0, 2**32 - 1), format=formats)
def test_decoding_sees_the_ids_training_computes_from_the_whole_text(scheme, seed, format):
    """Greedy decoding with the cache, whose ids come token by token from the text written so far, gives
    the logits of one full forward on the finished text with the ids computed from it at once."""
    model = tiny(**scheme)
    rng = np.random.default_rng(seed)
    for array in model.params.values():   # large weights: decoding does not settle on one token
        array += rng.standard_normal(array.shape) * 0.5
    examples = [ADDITION.render((int(rng.integers(0, 10**n)), int(rng.integers(0, 10**n))), format)
                for n in (1, 3, 6)]
    prompts = [TOKENIZER.encode(prompt_text(example)) for example in examples]
    layouts = decoding_layouts(model.config, ADDITION, format, TOKENIZER, examples)
    written = generate(model, prompts, 30, layouts=layouts)
    for example, prompt, new in zip(examples, prompts, written):
        sequence = prompt + new[:-1]
        row = SequenceLayout(model.config, ADDITION.layout_reader(example.input, format), TOKENIZER.vocabulary)
        row.extend(sequence)
        logits = model.forward(np.array([sequence]), layout=batch_layout(model.config, [row], len(sequence)))
        assert list(logits[0, len(prompt) - 1:].argmax(-1)) == new


def test_plain_models_need_no_layout_and_others_say_what_they_miss():
    assert not needs_layout(tiny().config)
    model = tiny(places=8)
    with pytest.raises(ValueError, match="layout.places"):
        model.forward(np.zeros((1, 4), np.int64))
    with pytest.raises(ValueError, match="beyond the model's place embeddings"):
        model.forward(np.zeros((1, 4), np.int64), layout=TokenLayout(places=np.full((1, 4), 8)))
    with pytest.raises(ValueError, match="needs rotary"):
        GPTConfig(vocab_size=5, position="learned", position_ids="coupled")


@given(a=numbers, b=numbers, cut=st.integers(1, 400))
def test_reading_a_whole_text_at_once_gives_what_reading_it_token_by_token_gives(a, b, cut):
    example = ADDITION.render((a, b), "scratchpad")
    tokens = [TOKENIZER.vocabulary[i] for i in encode_example(TOKENIZER, example)[0]]
    for text in (tokens, tokens[:cut], tokens[:cut] + ["7", " + ", "\n"]):
        one_by_one = ADDITION.layout_reader(example.input, "scratchpad")
        at_once = ADDITION.layout_reader(example.input, "scratchpad")
        assert at_once.read_all(text) == [one_by_one.read(token) for token in text]
        assert at_once.read("3") == one_by_one.read("3")   # and both readers go on alike


def test_a_checkpoint_saved_before_the_table_layout_loads_with_plain_positions(tmp_path):
    """Checkpoints written without the layout settings were trained with plain positions: they load so."""
    from minipad.checkpoint import load_checkpoint, save_checkpoint
    from minipad.config import TrainConfig
    from minipad.checkpoint import load_model
    from minipad.train import train
    config = TrainConfig(task_options={"max_digits": 2}, n_layer=1, n_head=2, n_embd=16, batch_size=4, max_steps=2, warmup_steps=1,
                         eval_every=10, test_problems=0, ood_problems=0, workers=1, position_ids="plain",
                         places=0, roles=0, line_window=False, out=str(tmp_path / "run"))
    train(config, log=lambda *args: None, progress=False)
    path = tmp_path / "run" / "model.npz"
    arrays, meta = load_checkpoint(path)
    for name in ("position_ids", "places", "roles", "line_window"):
        del meta["train_config"][name]
        del meta["model_config"][name]
    save_checkpoint(path, arrays, meta)
    model, loaded, _, _ = load_model(str(path))
    assert (loaded.position_ids, loaded.places, loaded.roles, loaded.line_window) == ("plain", 0, 0, False)
    assert not needs_layout(model.config)
