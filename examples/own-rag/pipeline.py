"""A team's own RAG pipeline, in plain Python, evaluated by evalkit as a `python:` route.

Retrieval: the example corpus split into sections (one per `## ` heading), ranked by BM25
against the ticket. Answering: a stand-in for the model call, so the example runs with no
key: every reason code quoted in the top sections (`like_this`) votes with its section's
score, and the words of the ticket break ties. Replace `decide` by a call to your model and
keep the rest: evalkit scores both the answer and the retrieval (recall@k and MRR against
the cases' gold `sources`).

evalkit calls `answer(messages, case, params)` once per case and repeat; `params` are the
route's params over the suite's defaults (here `k`, `corpus` and `schema`).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORD = re.compile(r"[a-z0-9]+")
CODE = re.compile(r"`([a-z_]+)`")
STOP = set("a an and are as at be by for from has have i if in is it its my not of on or our so "
           "that the their them they this to was we were what when with you your".split())


def words(text: str) -> list[str]:
    return [w for w in WORD.findall(text.lower()) if w not in STOP and len(w) > 1]


@lru_cache(maxsize=4)
def load_sections(corpus: str) -> tuple[tuple[str, str], ...]:
    """(id, text) for every section of every document; ids are DOC#N, N counting from 0."""
    sections = []
    for path in sorted((HERE / corpus).glob("*.md")):
        parts = re.split(r"\n(?=## )", path.read_text(encoding="utf-8"))
        sections += [(f"{path.stem}#{n}", part.strip()) for n, part in enumerate(parts) if part.strip()]
    return tuple(sections)


class BM25:
    def __init__(self, sections, k1: float = 1.4, b: float = 0.75):
        self.ids = [sid for sid, _ in sections]
        self.texts = [text for _, text in sections]
        self.docs = [Counter(words(text)) for text in self.texts]
        self.lengths = [sum(d.values()) for d in self.docs]
        self.mean_length = sum(self.lengths) / len(self.lengths)
        frequency = Counter(w for d in self.docs for w in d)
        n = len(self.docs)
        self.idf = {w: math.log(1 + (n - f + 0.5) / (f + 0.5)) for w, f in frequency.items()}
        self.k1, self.b = k1, b

    def search(self, query: str, k: int) -> list[dict]:
        terms = set(words(query))
        scores = []
        for i, doc in enumerate(self.docs):
            norm = self.k1 * (1 - self.b + self.b * self.lengths[i] / self.mean_length)
            score = sum(self.idf[t] * doc[t] * (self.k1 + 1) / (doc[t] + norm) for t in terms if t in doc)
            scores.append((score, i))
        top = sorted(scores, key=lambda s: (-s[0], s[1]))[:k]
        return [{"id": self.ids[i], "score": round(score, 4), "text": self.texts[i]} for score, i in top]


@lru_cache(maxsize=4)
def index(corpus: str) -> BM25:
    return BM25(load_sections(corpus))


@lru_cache(maxsize=4)
def reason_codes(schema: str) -> frozenset[str]:
    return frozenset(json.loads((HERE / schema).read_text(encoding="utf-8"))["properties"]["reason_code"]["enum"])


def decide(ticket: str, passages: list[dict], codes: frozenset[str]) -> str:
    """Stand-in for the model: reason codes quoted in the passages vote with their scores."""
    votes: Counter = Counter()
    ticket_words = set(words(ticket))
    for passage in passages:
        for code in CODE.findall(passage["text"]):
            if code in codes:
                votes[code] += passage["score"] * (1 + len(ticket_words & set(code.split("_"))))
    return votes.most_common(1)[0][0] if votes else "other"


def answer(messages, case, params):
    ticket = case["text"]
    passages = index(params.get("corpus", "../../datasets/support_triage/corpus")).search(ticket, int(params.get("k", 3)))
    code = decide(ticket, passages, reason_codes(params.get("schema", "../../datasets/support_triage/output_schema.json")))
    output = {"reason_code": code, "severity": "medium",
              "rationale": f"The policy sections {', '.join(p['id'] for p in passages)} point to {code}."}
    prompt_words = sum(len(m["content"].split()) for m in messages) + sum(len(p["text"].split()) for p in passages)
    return {"output": json.dumps(output), "retrieved": passages, "model": "bm25+votes", "cost_usd": 0.0,
            "input_tokens": prompt_words, "output_tokens": len(json.dumps(output).split())}
