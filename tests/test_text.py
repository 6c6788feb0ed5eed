"""Prompt matching against the sound-event vocabulary, with the real offline wordllama model."""

import json

import pytest

from melfoley.core.text import CONFIDENT, EventMatcher, load_vocabulary, match_prompt, vocabulary_path


def test_vocabulary_covers_every_corpus_label_with_phrase_and_ucs_catid(corpus_items):
    vocab = {e.label: e for e in load_vocabulary()}
    assert {it.label for it in corpus_items} == set(vocab)
    for ev in vocab.values():
        assert ev.phrase and ev.catid[:4].isupper() and " " not in ev.catid
    assert vocab["footsteps_gravel"].phrase == "footsteps on gravel" and vocab["footsteps_gravel"].catid == "FOLYFeet"
    assert json.loads(vocabulary_path().read_text())["format"] == "melfoley.vocabulary/1"


@pytest.mark.parametrize("prompt, label", [
    ("boots crunching on gravel", "footsteps_gravel"),
    ("someone walks across a wooden floor", "footsteps_wood"),
    ("a glass bottle shatters", "glass_break"),
    ("heavy rain on a roof", "rain"),
    ("crackling campfire", "fire"),
    ("door slams shut", "door_close"),
    ("sword clash", "blade_hit"),
    ("FOOTSTEPS_GRAVEL", "footsteps_gravel"),
])
def test_free_text_lands_on_the_right_event(prompt, label):
    m = match_prompt(prompt)
    assert m.best == label and m.confident
    assert m.scores[0] >= m.scores[1] >= m.scores[2]


def test_exact_label_or_phrase_scores_one():
    assert match_prompt("footsteps on snow").scores[0] == pytest.approx(1.0)
    assert match_prompt("dog_bark").best == "dog_bark"


@pytest.mark.parametrize("prompt", ["asdkjh", "a symphony orchestra", "", "   "])
def test_odd_prompts_degrade_to_nearest_events_and_say_so(prompt):
    m = match_prompt(prompt, k=3)
    assert len(m.labels) == 3 and len(set(m.labels)) == 3
    assert not m.confident and m.scores[0] < CONFIDENT
    assert sum(m.weights) == pytest.approx(1.0)
    meta = m.as_metadata()
    assert meta["confident"] is False and [e["label"] for e in meta["events"]] == list(m.labels)


def test_weight_vector_spreads_match_over_vocabulary():
    from melfoley.core.text import get_matcher

    matcher: EventMatcher = get_matcher()
    m = matcher.match("boots crunching on gravel")
    v = matcher.weight_vector(m)
    assert v.shape == (len(load_vocabulary()),) and v.sum() == pytest.approx(1.0, abs=1e-5)
    assert v.argmax() == matcher.labels.index("footsteps_gravel")
