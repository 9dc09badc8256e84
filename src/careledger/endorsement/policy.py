"""Endorsement policy language: parse, evaluate, and plan which organisations to ask.

Grammar (case-insensitive keywords, organisation ids case-sensitive)::

    policy    := AND(policy, ...) | OR(policy, ...) | N OF (policy, ...) | OUTOF(N, policy, ...)
               | MAJORITY | ANY | ALL | principal
    principal := ORG [ "." ROLE ]          ROLE: peer (default), admin, client, orderer, member

``MAJORITY``, ``ANY`` and ``ALL`` are over the peers of the organisations in the consortium *at
the block being validated*, so adding an organisation changes what MAJORITY needs. As in Fabric,
each endorsement satisfies at most one principal: ``2 OF (Org1, Org1)`` needs two Org1 peers.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from careledger.errors import PolicyError

_ROLES = {"peer", "admin", "client", "orderer", "member"}
_TOKEN = re.compile(r"\s*(?:(\d+)|([A-Za-z_][A-Za-z0-9_\-]*(?:\.[A-Za-z]+)?)|([(),]))")


@dataclass(frozen=True, slots=True)
class Principal:
    org: str
    role: str = "peer"

    def matches(self, org: str, role: str) -> bool:
        return org == self.org and (self.role == "member" or role == self.role)

    def __str__(self) -> str:
        return f"{self.org}.{self.role}"


@dataclass(frozen=True, slots=True)
class OutOf:
    n: int
    rules: tuple[Policy, ...]

    def __str__(self) -> str:
        return f"{self.n} OF ({', '.join(str(r) for r in self.rules)})"


@dataclass(frozen=True, slots=True)
class Relative:
    kind: str  # MAJORITY | ANY | ALL

    def __str__(self) -> str:
        return self.kind


Policy = Principal | OutOf | Relative


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[str] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise PolicyError(f"unexpected character at position {pos} in policy {text!r}")
            self.tokens.append(m.group(1) or m.group(2) or m.group(3))
            pos = m.end()
        self.i = 0

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None:
            raise PolicyError(f"policy {self.text!r} ends too early")
        if expected is not None and tok != expected:
            raise PolicyError(f"expected {expected!r} but found {tok!r} in policy {self.text!r}")
        self.i += 1
        return tok

    def args(self) -> tuple[Policy, ...]:
        self.take("(")
        rules = [self.expr()]
        while self.peek() == ",":
            self.take(",")
            rules.append(self.expr())
        self.take(")")
        return tuple(rules)

    def expr(self) -> Policy:
        tok = self.take()
        upper = tok.upper()
        if upper == "AND":
            rules = self.args()
            return OutOf(len(rules), rules)
        if upper == "OR":
            return OutOf(1, self.args())
        if upper == "OUTOF":
            self.take("(")
            n = self.take()
            if not n.isdigit():
                raise PolicyError(f"OUTOF needs a count first, got {n!r}")
            items: list[Policy] = []
            while self.peek() == ",":
                self.take(",")
                items.append(self.expr())
            self.take(")")
            return self._outof(int(n), tuple(items))
        if upper in ("MAJORITY", "ANY", "ALL"):
            return Relative(upper)
        if tok.isdigit():
            of = self.take()
            if of.upper() != "OF":
                raise PolicyError(f"expected OF after {tok} in policy {self.text!r}")
            return self._outof(int(tok), self.args())
        if tok in "(),":
            raise PolicyError(f"unexpected {tok!r} in policy {self.text!r}")
        org, _, role = tok.partition(".")
        role = role.lower() or "peer"
        if role not in _ROLES:
            raise PolicyError(f"unknown role {role!r} in policy {self.text!r}")
        return Principal(org, role)

    def _outof(self, n: int, rules: tuple[Policy, ...]) -> OutOf:
        if not rules or not 1 <= n <= len(rules):
            raise PolicyError(f"{n} OF needs between 1 and {len(rules)} rules, in {self.text!r}")
        return OutOf(n, rules)


def parse(text: str) -> Policy:
    """Parse a policy expression; raises PolicyError with the reason on bad syntax."""
    if not isinstance(text, str) or not text.strip() or len(text) > 4096:
        raise PolicyError("a policy is a non-empty expression of at most 4096 characters")
    parser = _Parser(text)
    policy = parser.expr()
    if parser.peek() is not None:
        raise PolicyError(f"unexpected {parser.peek()!r} after the end of policy {text!r}")
    return policy


def resolve(policy: Policy, orgs: Sequence[str]) -> Policy:
    """Replace MAJORITY / ANY / ALL by explicit rules over ``orgs``."""
    if isinstance(policy, Relative):
        peers = tuple(Principal(o) for o in sorted(orgs))
        if not peers:
            raise PolicyError("no organisations to satisfy the policy")
        n = {"ANY": 1, "ALL": len(peers), "MAJORITY": len(peers) // 2 + 1}[policy.kind]
        return OutOf(n, peers)
    if isinstance(policy, OutOf):
        return OutOf(policy.n, tuple(resolve(r, orgs) for r in policy.rules))
    return policy


def principals_of(policy: Policy) -> set[str]:
    """Organisations a (resolved) policy names."""
    if isinstance(policy, Principal):
        return {policy.org}
    if isinstance(policy, OutOf):
        return set().union(*(principals_of(r) for r in policy.rules))
    return set()


def _satisfy(
    policy: Policy, signers: Sequence[tuple[str, str]], used: frozenset[int]
) -> list[frozenset[int]]:
    """Every way (set of used signer indices) ``policy`` can be met from ``signers``."""
    if isinstance(policy, Principal):
        return [
            used | {i}
            for i, (org, role) in enumerate(signers)
            if i not in used and policy.matches(org, role)
        ]
    assert isinstance(policy, OutOf), "resolve() relative policies before evaluating"
    results: set[frozenset[int]] = set()
    for chosen in itertools.combinations(policy.rules, policy.n):
        states = {used}
        for rule in chosen:
            states = {s2 for s in states for s2 in _satisfy(rule, signers, s)}
            if not states:
                break
        results |= states
    return list(results)


def evaluate(policy: Policy, signers: Sequence[tuple[str, str]], orgs: Sequence[str]) -> bool:
    """True when the (org, role) identities in ``signers`` satisfy ``policy``."""
    return _evaluate_cached(policy, tuple(sorted(signers)), tuple(sorted(orgs)))


@functools.lru_cache(maxsize=4096)
def _evaluate_cached(
    policy: Policy, signers: tuple[tuple[str, str], ...], orgs: tuple[str, ...]
) -> bool:
    # Validation evaluates the same few (policy, signer orgs) pairs for every transaction.
    return bool(_satisfy(resolve(policy, orgs), signers, frozenset()))


def plan(policy: Policy, orgs: Sequence[str], prefer: str | None = None) -> list[str]:
    """A smallest set of organisations whose peers' endorsements satisfy ``policy``.

    ``prefer`` (the gateway's own organisation) is chosen when a smallest set can include it;
    among the others, earlier ones in ``orgs`` are chosen first.
    """
    ordered = sorted(orgs, key=lambda o: o != prefer)
    for size in range(1, len(ordered) + 1):
        for combo in itertools.combinations(ordered, size):
            if evaluate(policy, [(o, "peer") for o in combo], orgs):
                return list(combo)
    raise PolicyError(f"policy {policy} cannot be met by organisations {sorted(orgs)}")
