"""The RAG route's corpus: documents, chunks, and a TF-IDF retriever (see evalkit.tfidf)."""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

from evalkit.errors import BadInput


@dataclass(frozen=True, slots=True)
class Chunk:
    id: str  # "DOC#N" (DOC may itself contain "#": N follows the last one)
    doc_id: str
    text: str


def load_documents(path: Path) -> dict[str, str]:
    """A folder of .md/.txt files, a glob, or a JSONL file of {id, text}: doc id -> text."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in (".md", ".txt") and p.is_file())
    elif path.suffix == ".jsonl" and path.is_file():
        from evalkit.yamlfile import jsonl_records, read_text

        docs = {}
        for number, record in jsonl_records(path, read_text(path, "corpus file")):
            if not isinstance(record, dict) or "id" not in record or "text" not in record:
                raise BadInput("a corpus line must be a JSON object with id and text", where=f"{path}:{number}")
            docs[str(record["id"])] = str(record["text"])
        return docs
    else:
        files = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
    if not files:
        raise BadInput(
            "corpus not found or empty: expected a folder of .md/.txt files, a glob or a .jsonl file", where=str(path)
        )
    docs = {}
    for p in files:
        if p.stem in docs:
            first = next(f for f in files if f.stem == p.stem)
            raise BadInput(
                f"two corpus files have the doc id {p.stem!r} (their name without extension): {first} and {p}",
                where=str(path),
            )
        docs[p.stem] = p.read_text(encoding="utf-8")
    return docs


def chunk_text(text: str, size: int, overlap: int) -> list[str]:
    """Split on paragraph boundaries into pieces of about `size` characters, overlapping by `overlap`."""
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    chunks: list[str] = []
    current = ""
    for paragraph in paragraphs:
        while len(paragraph) > size:  # a paragraph longer than a chunk is cut by characters
            if current:
                chunks.append(current)
                current = ""
            chunks.append(paragraph[:size])
            paragraph = paragraph[max(size - overlap, 1):]
        if current and len(current) + len(paragraph) + 2 > size:
            chunks.append(current)
            tail = current[-overlap:] if overlap else ""
            current = f"{tail}\n\n{paragraph}" if tail else paragraph
        else:
            current = f"{current}\n\n{paragraph}" if current else paragraph
    if current:
        chunks.append(current)
    return chunks


class Retriever:
    """Top-k chunks by TF-IDF cosine similarity (words and word pairs, English stop words removed)."""

    def __init__(self, documents: dict[str, str], chunk_chars: int = 800, overlap: int = 100):
        from evalkit.tfidf import TfidfIndex

        self.chunks = [
            Chunk(f"{doc_id}#{i}", doc_id, piece)
            for doc_id, text in documents.items()
            for i, piece in enumerate(chunk_text(text, chunk_chars, overlap))
        ]
        self._index = TfidfIndex([c.text for c in self.chunks], bigrams=True, english_stop_words=True)

    def search(self, query: str, k: int) -> list[Chunk]:
        return [self.chunks[i] for i in self._index.top(query, k)]


def recall_at_k(gold: list[str], retrieved_chunk_ids: list[str]) -> float:
    docs = {chunk_id.rsplit("#", 1)[0] for chunk_id in retrieved_chunk_ids}
    return sum(1 for g in gold if g in docs) / len(gold)


def reciprocal_rank(gold: list[str], retrieved_chunk_ids: list[str]) -> float:
    for rank, chunk_id in enumerate(retrieved_chunk_ids, start=1):
        if chunk_id.rsplit("#", 1)[0] in gold:
            return 1.0 / rank
    return 0.0
