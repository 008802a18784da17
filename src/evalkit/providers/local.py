"""`local:NAME`: offline stand-ins that do real work, so the example suite runs with no key.

`--offline` maps each route kind to one of them:

* `local:keywords` (base): scores each label by the words of its name and description
  found in the input.
* `local:nearest` (prompted): the label of the most similar few-shot example in the
  request (TF-IDF cosine over the examples the route put in the prompt).
* `local:retrieval` (rag): keyword scores plus the labels that the retrieved policy
  chunks mention, weighted by rank.
* `local:classifier` (finetuned): TF-IDF + logistic regression trained on the train split.

The other scored fields of the answer (`task.fields`) are learned from the train split too:
the classifier trains one model per field; the nearest-example stand-in copies the nearest
example's value; the others answer the value most often expected with the label they chose.
A text field gets one sentence saying how the label was chosen (the retrieval stand-in names the
policy document it used).

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
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "of",
        "to",
        "for",
        "in",
        "on",
        "at",
        "is",
        "are",
        "be",
        "my",
        "i",
        "me",
        "it",
        "this",
        "that",
        "with",
        "not",
        "no",
    ]
)


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2}


def _stem(word: str) -> str:
    return word[:5]


def fill_from_schema(schema: dict[str, Any] | None, label_field: str, label: str) -> dict[str, Any]:
    """A minimal object that satisfies the output schema and carries `label` at `label_field`."""
    def value_for(prop: dict[str, Any]) -> Any:
        if "enum" in prop:
            return prop["enum"][0]
        kind: Any = prop.get("type")
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
            raise BadInput(
                f"route {self.route_name!r}: unknown local model {self.model!r} "
                f"(expected one of {', '.join(OFFLINE_BY_KIND.values())})"
            )
        task = self.suite.spec.task
        self.labels = task.labels
        self._label_words = {
            label: {_stem(w) for w in _words(label.replace("_", " ") + " " + task.label_descriptions.get(label, ""))}
            for label in self.labels
        }
        self._fallback = "other" if "other" in self.labels else self.labels[-1]
        if self.model == "classifier":
            self._train_classifier()
        self._learn_fields()

    def _learn_fields(self) -> None:
        """From the train split: per scored field, its most frequent value under each label
        (and overall), and for the classifier a model per field."""
        from collections import Counter

        from evalkit.cases import get_path

        task = self.suite.spec.task
        self._field_by_label: dict[str, dict[str, Any]] = {}
        self._field_majority: dict[str, Any] = {}
        self._field_models: dict[str, Any] = {}
        for name, spec in task.fields.items():
            if spec.type == "text":
                continue
            pairs = [(expected_label(c, task.label_field), get_path(c.expected, name))
                     for c in self.suite.train if isinstance(c.expected, dict)]
            pairs = [(label, value) for label, value in pairs if value is not None]
            if not pairs:
                continue
            self._field_majority[name] = Counter(v for _, v in pairs).most_common(1)[0][0]
            by_label: dict[str, Counter] = {}
            for label, value in pairs:
                by_label.setdefault(label, Counter())[json.dumps(value)] += 1
            self._field_by_label[name] = {label: json.loads(c.most_common(1)[0][0]) for label, c in by_label.items()}
            if self.model == "classifier" and len({json.dumps(v) for _, v in pairs}) > 1:
                from sklearn.feature_extraction.text import TfidfVectorizer
                from sklearn.linear_model import LogisticRegression
                from sklearn.pipeline import make_pipeline

                texts = [c.text() for c in self.suite.train if isinstance(c.expected, dict)
                         and get_path(c.expected, name) is not None]
                model = make_pipeline(TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2)),
                                      LogisticRegression(max_iter=2000, C=10.0))
                model.fit(texts, [json.dumps(v) for _, v in pairs])
                self._field_models[name] = model

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

    def _nearest(self, request: ProviderRequest):
        """The few-shot example in the request most similar to the case, or None."""
        if not request.examples:
            return None
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts = [c.text() for c in request.examples]
        vectors = TfidfVectorizer(sublinear_tf=True).fit_transform(texts + [request.case.text()])
        similarity = (vectors[:-1] @ vectors[-1].T).toarray().ravel()
        return request.examples[int(similarity.argmax())]

    def _predict(self, request: ProviderRequest) -> str:
        text = request.case.text()
        if self.model == "keywords":
            return self._best(self._keyword_scores(text))
        if self.model == "classifier":
            return str(self._classifier.predict([text])[0])
        if self.model == "nearest":
            nearest = self._nearest(request)
            if nearest is None:
                return self._best(self._keyword_scores(text))
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
            answer = fill_from_schema(self.suite.output_schema, task.label_field, label)
            for name, value in self._field_values(request, label).items():
                _put(answer, name, value)
            text = json.dumps(answer)
        prompt_chars = sum(len(m["content"]) for m in request.messages)
        return ProviderResponse(text=text, model=f"local:{self.model}", input_tokens=prompt_chars // 4 + 1,
                                output_tokens=len(text) // 4 + 1,
                                latency_ms=(time.perf_counter() - started) * 1000)

    def _field_values(self, request: ProviderRequest, label: str) -> dict[str, Any]:
        from evalkit.cases import get_path

        values: dict[str, Any] = {}
        nearest = self._nearest(request) if self.model == "nearest" else None
        for name, spec in self.suite.spec.task.fields.items():
            if spec.type == "text":
                values[name] = self._sentence(request, label)
            elif name in self._field_models:
                values[name] = json.loads(self._field_models[name].predict([request.case.text()])[0])
            elif (
                nearest is not None
                and isinstance(nearest.expected, dict)
                and get_path(nearest.expected, name) is not None
            ):
                values[name] = get_path(nearest.expected, name)
            elif name in self._field_majority:
                values[name] = self._field_by_label[name].get(label, self._field_majority[name])
        return values

    def _sentence(self, request: ProviderRequest, label: str) -> str:
        """One sentence saying how the label was chosen."""
        words = label.replace("_", " ")
        if self.model == "retrieval" and request.context_ids:
            document = request.context_ids[0].rsplit("#", 1)[0]
            return f"The ticket reads as {words} under the policy in {document}."
        how = {"keywords": "its wording", "nearest": "the most similar example",
               "classifier": "the tickets it was trained on"}.get(self.model, "its wording")
        return f"The ticket reads as {words}, judged by {how}."

    def model_info(self) -> dict[str, Any]:
        return {"resolved_model": f"local:{self.model}"}


def _put(answer: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    target = answer
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value
