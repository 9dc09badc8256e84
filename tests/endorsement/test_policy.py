"""Endorsement policies: parse, evaluate (each signature used once), relative rules, planning."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careledger.endorsement.policy import OutOf, Principal, Relative, evaluate, parse, plan
from careledger.errors import PolicyError

ORGS = ["Org1", "Org2", "Org3"]


def peers(*orgs: str) -> list[tuple[str, str]]:
    return [(o, "peer") for o in orgs]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Org1", Principal("Org1", "peer")),
        ("Org1.admin", Principal("Org1", "admin")),
        ("Org1.ADMIN", Principal("Org1", "admin")),
        ("AND(Org1, Org2)", OutOf(2, (Principal("Org1"), Principal("Org2")))),
        ("or(Org1,Org2)", OutOf(1, (Principal("Org1"), Principal("Org2")))),
        ("2 OF (Org1, Org2, Org3)", OutOf(2, tuple(Principal(o) for o in ORGS))),
        ("OUTOF(2, Org1, Org2, Org3)", OutOf(2, tuple(Principal(o) for o in ORGS))),
        ("majority", Relative("MAJORITY")),
        (
            "AND(Org1.member, OR(Org2, 1 OF (Org3.client)))",
            OutOf(
                2,
                (
                    Principal("Org1", "member"),
                    OutOf(1, (Principal("Org2"), OutOf(1, (Principal("Org3", "client"),)))),
                ),
            ),
        ),
    ],
)
def test_parse(text: str, expected: object) -> None:
    assert parse(text) == expected
    assert parse(str(parse(text))) == expected  # the printed form parses back


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "non-empty"),
        ("   ", "non-empty"),
        ("x" * 4097, "4096"),
        ("AND(Org1, Org2", "ends too early"),
        ("AND Org1", "expected '\\('"),
        ("AND()", "unexpected '\\)'"),
        ("Org1 Org2", "after the end"),
        ("Org1.boss", "unknown role"),
        ("3 OF (Org1, Org2)", "between 1 and 2"),
        ("0 OF (Org1)", "between 1 and 1"),
        ("2 (Org1, Org2)", "expected OF"),
        ("OUTOF(x, Org1)", "needs a count"),
        ("OUTOF(1)", "between 1 and 0"),
        ("Org1 & Org2", "unexpected character"),
        (")", "unexpected '\\)'"),
    ],
)
def test_bad_syntax_is_a_policy_error_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(PolicyError, match=reason):
        parse(text)


def test_and_or_and_n_of() -> None:
    both = parse("AND(Org1, Org2)")
    assert evaluate(both, peers("Org1", "Org2"), ORGS)
    assert not evaluate(both, peers("Org1", "Org3"), ORGS)
    either = parse("OR(Org1, Org2)")
    assert evaluate(either, peers("Org2"), ORGS)
    assert not evaluate(either, peers("Org3"), ORGS)
    two = parse("2 OF (Org1, Org2, Org3)")
    assert evaluate(two, peers("Org3", "Org1"), ORGS)
    assert not evaluate(two, peers("Org3"), ORGS)
    assert not evaluate(two, [], ORGS)


def test_roles_must_match_and_member_matches_any_role() -> None:
    assert not evaluate(parse("Org1"), [("Org1", "client")], ORGS)
    assert not evaluate(parse("Org1"), [("Org1", "admin")], ORGS)
    assert evaluate(parse("Org1.admin"), [("Org1", "admin")], ORGS)
    assert evaluate(parse("Org1.member"), [("Org1", "client")], ORGS)
    assert not evaluate(parse("Org1.member"), [("Org2", "peer")], ORGS)


def test_each_signature_satisfies_at_most_one_principal() -> None:
    twice = parse("2 OF (Org1, Org1)")
    assert not evaluate(twice, peers("Org1"), ORGS)
    assert evaluate(twice, peers("Org1", "Org1"), ORGS)
    # An admin is also a member, but one admin signature cannot count as both.
    admin_and_member = parse("AND(Org1.admin, Org1.member)")
    assert not evaluate(admin_and_member, [("Org1", "admin")], ORGS)
    assert evaluate(admin_and_member, [("Org1", "admin"), ("Org1", "client")], ORGS)
    # The search must not be greedy: the client has to go to the member rule.
    assert evaluate(admin_and_member, [("Org1", "client"), ("Org1", "admin")], ORGS)


def test_majority_any_all_are_relative_to_the_organisations_in_force() -> None:
    majority = parse("MAJORITY")
    assert not evaluate(majority, peers("Org1"), ORGS)
    assert evaluate(majority, peers("Org1", "Org3"), ORGS)
    four = [*ORGS, "Org4"]
    assert not evaluate(majority, peers("Org1", "Org3"), four)  # 2 of 4 is not a majority
    assert evaluate(majority, peers("Org1", "Org3", "Org4"), four)
    assert evaluate(parse("ANY"), peers("Org2"), ORGS)
    assert not evaluate(parse("ALL"), peers("Org1", "Org2"), ORGS)
    assert evaluate(parse("ALL"), peers(*ORGS), ORGS)
    # Signers from an organisation outside the consortium do not count.
    assert not evaluate(majority, peers("Org1", "Mallory"), ORGS)
    with pytest.raises(PolicyError):
        evaluate(majority, peers("Org1"), [])


def test_plan_asks_a_smallest_set_preferring_the_gateways_org() -> None:
    two = parse("2 OF (Org1, Org2, Org3)")
    assert plan(two, ORGS) == ["Org1", "Org2"]
    assert plan(two, ORGS, prefer="Org3") == ["Org3", "Org1"]
    assert plan(parse("AND(Org2, Org3)"), ORGS, prefer="Org1") == ["Org2", "Org3"]
    assert plan(parse("MAJORITY"), [*ORGS, "Org4"], prefer="Org4") == ["Org4", "Org1", "Org2"]
    with pytest.raises(PolicyError, match="cannot be met"):
        plan(parse("AND(Org1, Org9)"), ORGS)
    with pytest.raises(PolicyError, match="cannot be met"):
        plan(parse("Org1.admin"), ORGS)  # plans ask peers; admins never endorse


signer_lists = st.lists(
    st.tuples(
        st.sampled_from(["Org1", "Org2", "Org3", "Org4"]), st.sampled_from(["peer", "admin"])
    ),
    max_size=6,
)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.integers(1, 3), signer_lists, signer_lists)
def test_n_of_orgs_counts_distinct_peer_signers_and_more_signers_never_hurt(
    n: int, signers: list[tuple[str, str]], extra: list[tuple[str, str]]
) -> None:
    policy = parse(f"{n} OF (Org1, Org2, Org3)")
    distinct = {org for org, role in signers if role == "peer" and org in ORGS}
    assert evaluate(policy, signers, ORGS) == (len(distinct) >= n)
    if evaluate(policy, signers, ORGS):
        assert evaluate(policy, signers + extra, ORGS)
    # The order of the signatures in an envelope is irrelevant.
    assert evaluate(policy, signers[::-1], ORGS) == evaluate(policy, signers, ORGS)


@settings(max_examples=50, deadline=None, derandomize=True)
@given(st.sampled_from(["2 OF (Org1, Org2, Org3)", "MAJORITY", "AND(Org1, OR(Org2, Org3))"]))
def test_a_plan_satisfies_its_policy_and_no_smaller_set_does(text: str) -> None:
    policy = parse(text)
    chosen = plan(policy, ORGS)
    assert evaluate(policy, peers(*chosen), ORGS)
    for dropped in chosen:
        assert not evaluate(policy, peers(*(o for o in chosen if o != dropped)), ORGS)
