"""`local:NAME`: offline stand-ins that do real work, so the example suite runs with no key.

`--offline` maps each route kind to one of them:

* `local:keywords` (base): scores each label by the words of its name and description
  found in the input.
* `local:nearest` (prompted): the label of the most similar few-shot example in the
  request (TF-IDF cosine over the examples the route put in the prompt).
* `local:retrieval` (rag): keyword scores plus the labels that the retrieved policy
  chunks mention, weighted by rank.
* `local:classifier` (finetuned): TF-IDF + logistic regression trained on the train split.

Token counts are estimates (characters / 4); latency is the real compute time.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from evalkit.cases import expected_label
from evalkit.errors import BadInput
from evalkit.providers.base import Provider, ProviderRequest, ProviderResponse

OFFLINE_BY_KIND = {"base": "keywords", "prompted": "nearest", "rag": "retrieval", "finetuned": "classifier"}

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset("a an the and or of to for in on at is are be my i me it this that with not no".split())


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2}


def _stem(word: str) -> str:
    return word[:5]


def fill_from_schema(schema: dict[str, Any] | None, label_field: str, label: str) -> dict[str, Any]:
    """A minimal object that satisfies the output schema and carries `label` at `label_field`."""
    def value_for(prop: dict[str, Any]) -> Any:
        if "enum" in prop:
            return prop["enum"][0]
        kind = prop.get("type")
        kind = kind[0] if isinstance(kind, list) else kind
        return {"string": "offline stand-in", "integer": 0, "number": 0, "boolean": False,
                "array": [], "object": {}, "null": None}.get(kind, "")

    result: dict[str, Any] = {}
    if schema:
        for name in schema.get("required", []):
            result[name] = value_for(schema.get("properties", {}).get(name, {}))
    target, parts = result, label_field.split(".")
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = label
    return result


class LocalProvider(Provider):
    provenance = "stand-in"

    def prepare(self) -> None:
        if self.model not in OFFLINE_BY_KIND.values():
            raise BadInput(f"route {self.route_name!r}: unknown local model {self.model!r} (expected one of {', '.join(OFFLINE_BY_KIND.values())})")
        task = self.suite.spec.task
        self.labels = task.labels
        self._label_words = {
            label: {_stem(w) for w in _words(label.replace("_", " ") + " " + task.label_descriptions.get(label, ""))}
            for label in self.labels
        }
        self._fallback = "other" if "other" in self.labels else self.labels[-1]
        if self.model == "classifier":
            self._train_classifier()

    def _train_classifier(self) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        train = self.suite.train
        label_field = self.suite.spec.task.label_field
        y = [expected_label(c, label_field) for c in train]
        if len(set(y)) < 2:
            raise BadInput(f"route {self.route_name!r}: local:classifier needs train cases of at least two labels")
        self._classifier = make_pipeline(
            TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2)),
            LogisticRegression(max_iter=2000, C=10.0),
        )
        self._classifier.fit([c.text() for c in train], y)

    def _keyword_scores(self, text: str) -> dict[str, float]:
        stems = {_stem(w) for w in _words(text)}
        return {label: float(len(stems & words)) for label, words in self._label_words.items()}

    def _best(self, scores: dict[str, float]) -> str:
        best = max(scores.values(), default=0.0)
        if best <= 0:
            return self._fallback
        return next(label for label in self.labels if scores[label] == best)

    def _predict(self, request: ProviderRequest) -> str:
        text = request.case.text()
        if self.model == "keywords":
            return self._best(self._keyword_scores(text))
        if self.model == "classifier":
            return str(self._classifier.predict([text])[0])
        if self.model == "nearest":
            if not request.examples:
                return self._best(self._keyword_scores(text))
            from sklearn.feature_extraction.text import TfidfVectorizer

            texts = [c.text() for c in request.examples]
            vectors = TfidfVectorizer(sublinear_tf=True).fit_transform(texts + [text])
            similarity = (vectors[:-1] @ vectors[-1].T).toarray().ravel()
            nearest = request.examples[int(similarity.argmax())]
            return expected_label(nearest, self.suite.spec.task.label_field)
        scores = self._keyword_scores(text)
        for rank, chunk in enumerate(request.context, start=1):
            lowered = chunk.lower()
            for label in self.labels:
                if label in lowered:
                    scores[label] += 1.0 / rank
        return self._best(scores)

    async def complete(self, request: ProviderRequest) -> ProviderResponse:
        started = time.perf_counter()
        label = self._predict(request)
        task = self.suite.spec.task
        if task.output_format == "text":
            text = label
        else:
            text = json.dumps(fill_from_schema(self.suite.output_schema, task.label_field, label))
        prompt_chars = sum(len(m["content"]) for m in request.messages)
        return ProviderResponse(text=text, model=f"local:{self.model}", input_tokens=prompt_chars // 4 + 1,
                                output_tokens=len(text) // 4 + 1,
                                latency_ms=(time.perf_counter() - started) * 1000)

    def model_info(self) -> dict[str, Any]:
        return {"resolved_model": f"local:{self.model}"}
