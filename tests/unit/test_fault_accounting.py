"""The fault suite's accounting (ascolto.faults.accounting.tally): it must see every way a post can go
missing or be counted twice, or the suite's "exact" would prove nothing."""

from __future__ import annotations

from ascolto.faults.accounting import tally


def test_each_post_once_in_the_index_or_the_dead_letters_is_exact():
    accounting = tally(["a", "b", "c"], docs=["a", "b"], letter_keys=["c"])
    assert accounting.exact
    assert (accounting.produced, accounting.distinct, accounting.dead_letters) == (3, 2, 1)


def test_a_post_in_neither_place_is_lost():
    accounting = tally(["a", "b", "c"], docs=["a"], letter_keys=["b"])
    assert accounting.lost == 1
    assert not accounting.exact


def test_two_documents_with_one_id_are_a_duplicate():
    # The same _id in two backing indices: a search through the alias shows both.
    accounting = tally(["a", "b"], docs=["a", "a", "b"], letter_keys=[])
    assert accounting.duplicated == 1
    assert not accounting.exact


def test_a_post_indexed_and_also_dead_lettered_is_a_duplicate():
    accounting = tally(["a", "b"], docs=["a", "b"], letter_keys=["b"])
    assert accounting.duplicated == 1
    assert not accounting.exact


def test_a_post_dead_lettered_twice_is_a_duplicate():
    accounting = tally(["a", "b"], docs=["a"], letter_keys=["b", "b"])
    assert accounting.duplicated == 1
    assert not accounting.exact


def test_a_document_nobody_produced_is_unexpected():
    accounting = tally(["a"], docs=["a", "z"], letter_keys=[])
    assert accounting.unexpected == 1
    assert not accounting.exact


def test_unkeyed_messages_are_accounted_for_by_keyless_dead_letters():
    assert tally(["a"], docs=["a"], letter_keys=[None, None], unkeyed=2).exact
    short = tally(["a"], docs=["a"], letter_keys=[None], unkeyed=2)
    assert short.lost == 1
    assert not short.exact
    extra = tally(["a"], docs=["a"], letter_keys=[None, None, "nobody"], unkeyed=2)
    assert extra.unexpected == 1
    assert not extra.exact
