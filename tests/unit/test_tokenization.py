"""Tokenization rules, checked against the `transformers` fast tokenizer where it has the
same rule (special tokens, only_second, longest_first, left/right) and by hand elsewhere."""
from __future__ import annotations

import itertools

import pytest

from fixtures.tiny_models import build_tokenizer
from rerank_bundle.errors import ValidationError
from rerank_bundle.tokenization import SpecialTokens, TextTokenizer, longest_first
from rerank_bundle.types import TruncationDirection, TruncationOptions

RIGHT = TruncationOptions()
LEFT = TruncationOptions(direction=TruncationDirection.LEFT)
STRICT = TruncationOptions(truncate=False)


def words(n: int, word: str = "dog") -> str:
    """n tokens: every vocabulary word of the tiny tokenizer is one token."""
    return " ".join([word] * n)


def numbered(n: int) -> str:
    """n distinct-looking tokens, so a cut from the left differs from one on the right."""
    vocab = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
    return " ".join(vocab[i % 10] for i in range(n))


def make(hf_tok, max_length: int) -> TextTokenizer:
    return TextTokenizer(hf_tok.backend_tokenizer, max_length=max_length, pad_token_id=hf_tok.pad_token_id)


@pytest.mark.parametrize("style", ["bert", "roberta"])
def test_special_tokens_and_type_ids_match_transformers(style):
    hf = build_tokenizer(style)
    tok = make(hf, 128)
    [single] = tok.encode_texts(["deep learning is fun"], truncation=RIGHT)
    [pair] = tok.encode_text_pairs([("what is it", "a cat")], truncation=RIGHT)
    assert single.input_ids == hf("deep learning is fun")["input_ids"]
    ref = hf("what is it", "a cat", return_token_type_ids=True)
    assert pair.input_ids == ref["input_ids"]
    assert pair.token_type_ids == ref["token_type_ids"]


def test_template_probe_reads_bert_layout(bert_tokenizer):
    pair = SpecialTokens.probe(bert_tokenizer.backend_tokenizer, pair=True)
    cls_id, sep_id = bert_tokenizer.cls_token_id, bert_tokenizer.sep_token_id
    assert pair.prefix == ((cls_id, 0),) and pair.middle == ((sep_id, 0),) and pair.suffix == ((sep_id, 1),)
    assert (pair.first_type, pair.second_type, pair.count) == (0, 1, 3)


def test_document_is_cut_before_the_query(bert_tokenizer):
    tok = make(bert_tokenizer, 20)
    query = numbered(6)
    [item] = tok.encode_pairs(query, [words(50)], truncation=RIGHT)
    assert len(item) == 20
    query_ids = tok._ids([query])[0]
    assert item.input_ids[1 : 1 + len(query_ids)] == query_ids  # the whole query survives
    assert item.input_ids == bert_tokenizer(query, words(50), truncation="only_second", max_length=20)["input_ids"]


@pytest.mark.parametrize("side", ["right", "left"])
def test_truncation_direction_matches_transformers(side):
    hf = build_tokenizer("bert")
    hf.truncation_side = side
    tok = make(hf, 24)
    options = RIGHT if side == "right" else LEFT
    doc = numbered(40)
    [pair] = tok.encode_pairs("what is it", [doc], truncation=options)
    [single] = tok.encode_texts([doc], truncation=options)
    assert pair.input_ids == hf("what is it", doc, truncation="only_second", max_length=24)["input_ids"]
    assert single.input_ids == hf(doc, truncation=True, max_length=24)["input_ids"]


def test_left_and_right_keep_opposite_ends(bert_tokenizer):
    tok = make(bert_tokenizer, 16)
    doc_ids = tok._ids([numbered(30)])[0]
    [right] = tok.encode_texts([numbered(30)], truncation=RIGHT)
    [left] = tok.encode_texts([numbered(30)], truncation=LEFT)
    assert right.input_ids[1:-1] == doc_ids[:14]
    assert left.input_ids[1:-1] == doc_ids[-14:]


@pytest.mark.parametrize("side", ["right", "left"])
def test_longest_first_fallback_when_the_query_alone_is_too_long(side):
    hf = build_tokenizer("bert")
    hf.truncation_side = side
    tok = make(hf, 20)
    options = RIGHT if side == "right" else LEFT
    for n_query, n_doc in itertools.product([17, 18, 25, 40], [1, 5, 9, 10, 30]):
        query, doc = numbered(n_query), words(n_doc, "cat")
        [item] = tok.encode_pairs(query, [doc], truncation=options)
        expected = hf(query, doc, truncation="longest_first", max_length=20)["input_ids"]
        assert item.input_ids == expected, (n_query, n_doc)
        assert len(item) <= 20


def test_longest_first_splits_like_hf_tokenizers():
    assert longest_first(30, 3, 17) == (14, 3)  # short side kept whole
    assert longest_first(30, 12, 17) == (9, 8)  # both long: halves, odd token to the longer
    assert longest_first(12, 30, 17) == (8, 9)
    assert longest_first(20, 20, 17) == (8, 9)  # tie: the second side gets the odd token


def test_query_filling_budget_exactly_falls_back(bert_tokenizer):
    tok = make(bert_tokenizer, 20)
    [item] = tok.encode_pairs(words(17), [words(5, "cat")], truncation=RIGHT)
    assert len(item) == 20
    assert item.input_ids.count(bert_tokenizer.convert_tokens_to_ids("cat")) == 5  # the short doc survives


def test_truncate_false_names_the_count_and_the_limit(bert_tokenizer):
    tok = make(bert_tokenizer, 20)
    with pytest.raises(ValidationError) as err:
        tok.encode_pairs("what is it", ["fine", words(30)], truncation=STRICT)
    message = str(err.value)
    assert "document 1" in message and "36 tokens" in message and "limit of 20" in message
    with pytest.raises(ValidationError, match=r"input 0 is 32 tokens.*limit of 20"):
        tok.encode_texts([words(30)], truncation=STRICT)
    with pytest.raises(ValidationError, match=r"query is 27 tokens"):
        tok.encode_texts([words(25), "ok"], truncation=STRICT, names=["query", "document 0"])


def test_truncate_false_accepts_inputs_at_the_limit(bert_tokenizer):
    tok = make(bert_tokenizer, 20)
    [item] = tok.encode_pairs(words(3), [words(14)], truncation=STRICT)
    assert len(item) == 20


def test_chunks_cover_the_document_up_to_max_chunks(bert_tokenizer):
    tok = make(bert_tokenizer, 16)  # 3 specials + 3 query tokens leave room for 10
    query, long_doc = "what is it", numbered(45)
    doc_ids = tok._ids([long_doc])[0]
    chunks = tok.encode_chunked_pairs(query, ["short doc", long_doc], max_chunks=3, direction=TruncationDirection.RIGHT)
    assert [group for group, _ in chunks] == [0, 1, 1, 1]
    pieces = [item.input_ids[5:-1] for _, item in chunks[1:]]
    assert pieces == [doc_ids[0:10], doc_ids[10:20], doc_ids[20:30]]
    assert all(item.input_ids[:5] == chunks[0][1].input_ids[:5] for _, item in chunks)  # query in every chunk
    everything = tok.encode_chunked_pairs(query, [long_doc], max_chunks=10, direction=TruncationDirection.RIGHT)
    assert len(everything) == 5 and everything[-1][1].input_ids[5:-1] == doc_ids[40:]


def test_chunking_with_an_over_long_query_truncates(bert_tokenizer):
    tok = make(bert_tokenizer, 16)
    chunks = tok.encode_chunked_pairs(words(20), [words(40, "cat")], max_chunks=4, direction=TruncationDirection.RIGHT)
    assert len(chunks) == 1 and len(chunks[0][1]) == 16


def test_max_tokens_per_doc_cuts_documents_first(bert_tokenizer):
    tok = make(bert_tokenizer, 64)
    doc = numbered(30)
    doc_ids = tok._ids([doc])[0]
    [right] = tok.encode_pairs("q", [doc], truncation=STRICT, max_tokens_per_doc=8)
    [left] = tok.encode_pairs("q", [doc], truncation=LEFT, max_tokens_per_doc=8)
    assert right.input_ids[3:-1] == doc_ids[:8]
    assert left.input_ids[3:-1] == doc_ids[-8:]


def test_shared_query_is_not_mutated_across_documents(bert_tokenizer):
    tok = make(bert_tokenizer, 20)
    items = tok.encode_pairs(words(25), ["cat", words(12, "cat"), "cat"], truncation=RIGHT)
    assert items[0].input_ids == items[2].input_ids


def test_mixed_singles_and_pairs_keep_their_layouts(bert_tokenizer):
    tok = make(bert_tokenizer, 32)
    [single] = tok.encode_texts(["a cat"], truncation=RIGHT)
    [pair] = tok.encode_text_pairs([("a cat", "a dog")], truncation=RIGHT)
    assert set(single.token_type_ids) == {0}
    assert pair.token_type_ids.count(1) == 3  # "a dog" + final [SEP]


def test_count_excludes_special_tokens(bert_tokenizer):
    assert make(bert_tokenizer, 32).count(words(7)) == 7


def test_empty_document_is_still_a_pair(bert_tokenizer):
    tok = make(bert_tokenizer, 20)
    [item] = tok.encode_pairs(words(17), [""], truncation=STRICT)  # transformers would drop the pair here
    assert len(item) == 20 and item.input_ids[-2:] == [bert_tokenizer.sep_token_id] * 2
