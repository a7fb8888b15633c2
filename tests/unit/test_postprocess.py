"""Activation, ranking and vector maths of postprocess.py."""
from __future__ import annotations

import math

import numpy as np
import pytest

from rerank_bundle import postprocess as pp


def test_sigmoid_is_exact_and_never_overflows():
    x = np.array([-1000.0, -2.0, 0.0, 3.0, 1000.0])
    expected = [0.0, 1 / (1 + math.e**2), 0.5, 1 / (1 + math.e**-3), 1.0]
    with np.errstate(over="raise"):
        np.testing.assert_allclose(pp.sigmoid(x), expected, rtol=1e-12, atol=1e-300)


def test_softmax_rows_sum_to_one_and_survive_large_logits():
    logits = np.array([[1.0, 2.0, 3.0], [1000.0, 1000.0, -1000.0]])
    out = pp.softmax(logits, axis=1)
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    np.testing.assert_allclose(out[0], np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum())
    np.testing.assert_allclose(out[1], [0.5, 0.5, 0.0], atol=1e-300)


def test_activate_picks_sigmoid_softmax_or_raw():
    one = np.array([[0.0], [2.0]])
    three = np.array([[0.0, 1.0, 2.0]])
    np.testing.assert_allclose(pp.activate(one, raw=False)[:, 0], [0.5, 1 / (1 + math.exp(-2))])
    np.testing.assert_allclose(pp.activate(three, raw=False), pp.softmax(three))
    np.testing.assert_array_equal(pp.activate(three, raw=True), three)
    np.testing.assert_allclose(pp.activate(np.array([0.0, 2.0]), raw=False)[:, 0], pp.sigmoid([0.0, 2.0]))


def test_relevance_uses_the_last_label():
    logits = np.array([[3.0, 0.0, -1.0], [0.0, 0.0, 4.0]])
    np.testing.assert_allclose(pp.relevance(logits, raw=False), pp.softmax(logits)[:, -1])
    np.testing.assert_array_equal(pp.relevance(logits, raw=True), [-1.0, 4.0])


def test_rank_sorts_descending_and_ties_keep_input_order():
    ranked = pp.rank([0.2, 0.9, 0.2, 0.9, 0.5], texts=list("abcde"))
    assert [(r.index, r.text) for r in ranked] == [(1, "b"), (3, "d"), (4, "e"), (0, "a"), (2, "c")]
    assert [r.score for r in ranked] == [0.9, 0.9, 0.5, 0.2, 0.2]
    assert all(r.text is None for r in pp.rank([1.0, 2.0]))


@pytest.mark.parametrize("top_n, expected", [(None, [2, 0, 1]), (0, []), (1, [2]), (2, [2, 0]), (10, [2, 0, 1])])
def test_rank_top_n(top_n, expected):
    assert [r.index for r in pp.rank([0.5, 0.1, 0.7], top_n=top_n)] == expected


def test_label_scores_sorted_per_row():
    rows = pp.label_scores(np.array([[0.1, 0.7, 0.2], [0.5, 0.25, 0.25]]), ["neg", "neu", "pos"])
    assert [[(s.label, s.score) for s in row] for row in rows] == [
        [("neu", 0.7), ("pos", 0.2), ("neg", 0.1)],
        [("neg", 0.5), ("neu", 0.25), ("pos", 0.25)],
    ]


def test_max_by_group():
    out = pp.max_by_group(np.array([0.1, 0.9, 0.3, -2.0, -1.0]), [0, 0, 1, 2, 2], 3)
    np.testing.assert_array_equal(out, [0.9, 0.3, -1.0])


def test_l2_normalize_handles_zero_vectors():
    out = pp.l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])


def test_matryoshka_dimensions_cut_before_normalizing():
    x = np.array([[1.0, 2.0, 3.0, 4.0]])
    np.testing.assert_array_equal(pp.truncate_dimensions(x, 2), [[1.0, 2.0]])
    assert pp.truncate_dimensions(x, None) is x and pp.truncate_dimensions(x, 4) is x
    np.testing.assert_allclose(np.linalg.norm(pp.l2_normalize(pp.truncate_dimensions(x, 2))), 1.0)


def test_cosine_scores():
    query = np.array([1.0, 0.0])
    docs = np.array([[2.0, 0.0], [0.0, 5.0], [-1.0, 1.0]])
    np.testing.assert_allclose(pp.cosine_scores(query, docs), [1.0, 0.0, -math.sqrt(0.5)], atol=1e-6)
