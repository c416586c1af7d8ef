"""The web-search query syntax (as PostgreSQL's websearch_to_tsquery reads it) for SQLite FTS5.

    words         every word must occur (AND)
    "a phrase"    the words next to each other, in this order
    -word         must not occur (also -"a phrase")
    a OR b        either side; OR binds loosest: `a b OR c` is (a AND b) OR c

Every term goes to FTS5 as a quoted string, so nothing a user types (AND, NEAR, *, ^, :,
parentheses, quotes) is read as FTS5 syntax; a term with no letters or digits is dropped.
"""

import re
from dataclasses import dataclass, field

from core.errors import BadRequest

# What FTS5's unicode61 tokenizer keeps: letters and numbers (underscore is a separator there).
_WORD_CHAR = re.compile(r"[^\W_]")


@dataclass
class Term:
    text: str
    negated: bool = False


@dataclass
class Branch:
    """Terms that must all hold; the branches of a query are alternatives (OR)."""

    terms: list[Term] = field(default_factory=list)


def parse(q: str) -> list[Branch]:
    """The query's OR-branches, each a list of (possibly negated) words or phrases."""
    branches = [Branch()]
    i, n = 0, len(q)
    while i < n:
        char = q[i]
        if char.isspace():
            i += 1
            continue
        negated = False
        if char == "-" and i + 1 < n and not q[i + 1].isspace():
            negated = True
            i += 1
        if q[i] == '"':
            end = q.find('"', i + 1)
            end = n if end == -1 else end
            text, i = q[i + 1 : end], end + 1
        else:
            start = i
            while i < n and not q[i].isspace() and q[i] != '"':
                i += 1
            text = q[start:i]
        if not negated and text.lower() == "or":
            if branches[-1].terms:
                branches.append(Branch())
            continue
        if _WORD_CHAR.search(text):
            branches[-1].terms.append(Term(text, negated))
    return [b for b in branches if b.terms]


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def fts5_query(q: str) -> str:
    """The FTS5 MATCH expression for q, or BadRequest when q has nothing to search for."""
    branches = parse(q)
    if not branches:
        raise BadRequest("q has no words to search for.", field="q")
    parts = []
    for branch in branches:
        positive = [_quoted(t.text) for t in branch.terms if not t.negated]
        negative = [_quoted(t.text) for t in branch.terms if t.negated]
        if not positive:
            raise BadRequest("q must have a word to find, not only -excluded words.", field="q")
        expression = "(" + " AND ".join(positive) + ")"
        for term in negative:
            expression += f" NOT {term}"
        parts.append(f"({expression})")
    return " OR ".join(parts)
