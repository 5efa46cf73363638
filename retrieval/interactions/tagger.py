"""Metadata extraction: a Flair ``SequenceTagger`` that finds attribute spans in a sentence.

"that shirt is linen" -> ``material:linen``; "it has a halter neckline" -> ``neckline:halter``
(a new attribute: the paper adds a span that matches nothing as a new node). The tagger is trained
offline by :func:`retrieval.interactions.tagger_train.train_tagger` on sentences generated from the taxonomy
(:mod:`retrieval.interactions.tagger_sentences`); it needs no download: character embeddings over a locally built
character dictionary, stacked with word embeddings learnt from scratch.

Model directory: ``tagger.pt`` (Flair), ``tagger_config.json`` (:class:`TaggerConfig`) and
``train_report.json`` (training time and F1).
"""

from __future__ import annotations

import difflib
import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrieval.catalog.taxonomy import CATEGORY, DEFAULT_TAXONOMY, Taxonomy, attribute_key, normalise_text
from retrieval.config import load_config
from retrieval.errors import DatasetError, InteractionError, ModelNotFoundError
from retrieval.interactions.tagger_bio import TaggedSentence, label_of, spans_to_tags, tokenize

if TYPE_CHECKING:
    from flair.data import Sentence
    from flair.models import SequenceTagger

log = logging.getLogger(__name__)

MODEL_FILE = "tagger.pt"
CONFIG_FILE = "tagger_config.json"
REPORT_FILE = "train_report.json"
TAG_TYPE = "ner"
MAX_TEXT_CHARS = 1000
GENERIC_TAIL = (
    "pattern",
    "patterns",
    "print",
    "prints",
    "design",
    "designs",
    "color",
    "colour",
    "colored",
    "coloured",
    "neckline",
    "neck line",
    "material",
    "fabric",
    "fit",
    "length",
    "style",
)
FUZZY_CUTOFF = 0.84


@dataclass(frozen=True)
class TaggerConfig:
    """How the tagger was (or will be) trained; saved as ``tagger_config.json`` beside the model.

    Attributes:
        taxonomy: taxonomy file the labels and vocabulary come from.
        labels: span labels (groups upper-cased, then CATEGORY); filled in by training.
        sentences: generated training sentences.
        dev_sentences: generated sentences for choosing the best epoch.
        test_sentences: held-out generated sentences (outside-vocabulary words unseen in training).
        epochs: training epochs.
        seed: seed of the generator and of torch.
        hidden_size: BiLSTM hidden size.
        char_embedding_dim: character embedding size.
        char_hidden_size: character BiLSTM hidden size.
        word_embedding_dim: one-hot word embedding size learnt from scratch; 0 for characters only.
        word_min_freq: words rarer than this in training map to <unk>.
        use_crf: CRF output layer (else softmax).
        optimizer: ``adam`` or ``sgd`` (Flair's ModelTrainer, learning rate annealed on dev F1).
        learning_rate: initial learning rate.
        mini_batch_size: sentences per batch.
        threads: torch CPU threads while training (1 is fastest for this small model: with 2 on a
            busy 2-core machine training was 20x slower).
    """

    taxonomy: str = str(DEFAULT_TAXONOMY)
    labels: tuple[str, ...] = ()
    sentences: int = 4000
    dev_sentences: int = 300
    test_sentences: int = 500
    epochs: int = 10
    seed: int = 0
    hidden_size: int = 64
    char_embedding_dim: int = 24
    char_hidden_size: int = 24
    word_embedding_dim: int = 32
    word_min_freq: int = 3
    use_crf: bool = False
    optimizer: str = "adam"
    learning_rate: float = 0.01
    mini_batch_size: int = 32
    threads: int = 1


# A configuration that trains in seconds (tests); F1 is lower but well above chance.
TEST_CONFIG = TaggerConfig(sentences=800, dev_sentences=100, test_sentences=100, epochs=4, hidden_size=32)


@dataclass(frozen=True)
class Extracted:
    """One attribute found in a text.

    Attributes:
        group: taxonomy group (``color``) or ``category``.
        value: taxonomy value (``navy``), or the normalised span for a new attribute (``halter``).
        surface: the words as written ("dark blue").
        known: True when the value is in the taxonomy (directly, by synonym or close spelling).
        score: the tagger's confidence in the span.
        start: character offset of the span in the text.
        end: character offset just after the span.
    """

    group: str
    value: str
    surface: str
    known: bool
    score: float
    start: int = 0
    end: int = 0

    @property
    def key(self) -> str:
        """``group:value``, the attribute node's id."""
        return attribute_key(self.group, self.value)


@contextmanager
def quiet_flair() -> Iterator[None]:
    """Silence Flair's INFO logging (it prints whole vocabularies) unless we log at DEBUG."""
    flair_log = logging.getLogger("flair")
    level = flair_log.level
    if not log.isEnabledFor(logging.DEBUG):
        flair_log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        flair_log.setLevel(level)


def model_exists(model_dir: str | Path) -> bool:
    """True when ``model_dir`` holds a trained tagger."""
    return (Path(model_dir) / MODEL_FILE).is_file() and (Path(model_dir) / CONFIG_FILE).is_file()


def to_flair(example: TaggedSentence) -> Sentence:
    """A Flair sentence of lower-cased tokens with the gold spans as ``ner`` labels."""
    from flair.data import Sentence  # heavy: flair (with torch, ~4 s), only with a trained tagger

    sent = Sentence([t.lower() for t in example.tokens])
    i, tags = 0, example.tags
    while i < len(tags):
        if tags[i].startswith(("B-", "I-")):
            j = i + 1
            while j < len(tags) and tags[j] == "I-" + tags[i][2:]:
                j += 1
            sent[i:j].add_label(TAG_TYPE, tags[i][2:])
            i = j
        else:
            i += 1
    return sent


class Normaliser:
    """Maps a tagged span to a taxonomy value, or to a new value of the tagged group."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy
        self.group_of_label = {label_of(g): g for g in taxonomy.groups}
        self.group_of_label[label_of(CATEGORY)] = CATEGORY
        self.concepts: dict[str, str] = {}
        for c in taxonomy.concepts.values():
            for p in (c.name, *c.synonyms):
                self.concepts.setdefault(normalise_text(p), c.name)
        self.by_group: dict[str, dict[str, str]] = {}
        for phrase, (group, value) in taxonomy.phrases.items():
            self.by_group.setdefault(group, {})[phrase] = value

    def __call__(self, label: str, surface: str) -> tuple[str, str, bool]:
        """``(group, value, known)`` of a span tagged ``label``."""
        group = self.group_of_label.get(label, label.lower())
        norm = normalise_text(surface)
        hit = self.taxonomy.normalise(norm)
        if hit:
            return hit[0], hit[1], True
        words = norm.split()
        stripped = True
        while stripped:  # "floral pattern" -> "floral", "halter neck line" -> "halter"
            stripped = False
            for n in (2, 1):
                if len(words) > n and " ".join(words[-n:]) in GENERIC_TAIL:
                    words, stripped = words[:-n], True
                    break
        core = " ".join(words)
        for i in range(len(words)):  # "light green" -> "green"; "seperated straps" -> "straps"
            found = self._lookup(group, " ".join(words[i:]))
            if found:
                return group, found, True
        return group, core, False

    def _lookup(self, group: str, phrase: str) -> str | None:
        table = self.by_group.get(group, {})
        if phrase in table:
            return table[phrase]
        if group == CATEGORY and phrase in self.concepts:
            return self.concepts[phrase]
        if len(phrase) >= 5:  # a typo of a known phrase ("sleevless", "colar")
            close = difflib.get_close_matches(phrase, list(table), n=1, cutoff=FUZZY_CUTOFF)
            if close:
                return table[close[0]]
        return None


class MetadataTagger:
    """A trained tagger plus the taxonomy its spans are normalised to."""

    def __init__(self, model: SequenceTagger, config: TaggerConfig, taxonomy: Taxonomy) -> None:
        self.model = model
        self.config = config
        self.taxonomy = taxonomy
        self.normalise = Normaliser(taxonomy)
        self._lock = threading.Lock()

    @classmethod
    def load(cls, model_dir: str | Path, taxonomy: Taxonomy | None = None) -> MetadataTagger:
        """Load a tagger trained by ``tailor train-tagger``.

        Args:
            model_dir: the ``--out`` folder of ``tailor train-tagger``.
            taxonomy: taxonomy for normalisation (default: the file named in the config).

        Raises:
            ModelNotFoundError: the folder or its files are missing.
        """
        model_dir = Path(model_dir)
        if not model_exists(model_dir):
            raise ModelNotFoundError(
                f"No trained metadata tagger in {model_dir} (need {MODEL_FILE} and {CONFIG_FILE}).",
                fix=f"run `tailor train-tagger --out {model_dir}` first, or pass the right folder",
            )
        # heavy: flair (with torch, ~4 s) loads only when a tagger is; importing tagger_embeddings registers its class
        from flair.models import SequenceTagger

        import retrieval.interactions.tagger_embeddings  # noqa: F401  # heavy: imports flair

        config = load_config(TaggerConfig, model_dir / CONFIG_FILE)
        if taxonomy is None:
            path = Path(config.taxonomy)
            taxonomy = Taxonomy.load(path if path.is_file() else None)
        with quiet_flair():
            model = SequenceTagger.load(str(model_dir / MODEL_FILE))
        model.eval()
        return cls(model, config, taxonomy)

    def spans(self, texts: list[str]) -> list[list[tuple[int, int, str, float]]]:
        """Raw tagged spans ``(start, end, label, score)`` of each text."""
        from flair.data import Sentence  # heavy: flair (with torch, ~4 s), only with a trained tagger

        toks = [tokenize(t) for t in texts]
        out: list[list[tuple[int, int, str, float]]] = [[] for _ in texts]
        todo = [i for i, tk in enumerate(toks) if tk]
        if not todo:
            return out
        sents = [Sentence([w.lower() for _, _, w in toks[i]]) for i in todo]
        with self._lock:
            self.model.predict(sents, mini_batch_size=64, label_name="predicted", embedding_storage_mode="none")
        for i, sent in zip(todo, sents, strict=True):
            for span in sent.get_spans("predicted"):
                first, last = span.tokens[0].idx - 1, span.tokens[-1].idx - 1
                lab = span.get_label("predicted")
                out[i].append((toks[i][first][0], toks[i][last][1], lab.value, float(lab.score)))
        return out

    def extract(self, text: str) -> list[Extracted]:
        """Attributes stated in ``text``, left to right.

        Raises:
            InteractionError: the text is longer than MAX_TEXT_CHARS.
        """
        return self.extract_many([text])[0]

    def extract_many(self, texts: list[str]) -> list[list[Extracted]]:
        """:meth:`extract` for a batch of texts (faster than one by one)."""
        for text in texts:
            if len(text) > MAX_TEXT_CHARS:
                raise InteractionError(
                    f"Text of {len(text)} characters is too long to tag (at most {MAX_TEXT_CHARS}).",
                    fix='state one fact in a short sentence, e.g. "that shirt is linen"',
                )
        results = []
        for text, spans in zip(texts, self.spans(texts), strict=True):
            found = []
            for start, end, label, score in spans:
                surface = text[start:end]
                group, value, known = self.normalise(label, surface)
                if value:
                    found.append(Extracted(group, value, surface, known, round(score, 4), start, end))
            results.append(found)
        return results

    def evaluate(self, examples: list[TaggedSentence]) -> dict[str, Any]:
        """Flair's span evaluation: micro precision / recall / F1 overall and per label."""
        return evaluate_model(self.model, examples)


def evaluate_model(model: SequenceTagger, examples: list[TaggedSentence]) -> dict[str, Any]:
    """Span-level (exact match) precision, recall and F1 of ``model`` on gold ``examples``.

    Returns:
        ``{"precision", "recall", "f1", "sentences", "per_label": {LABEL: {precision, recall, f1, support}}}``.
    """
    sents = [to_flair(e) for e in examples if e.tokens]
    result = model.evaluate(
        sents, gold_label_type=TAG_TYPE, mini_batch_size=64, embedding_storage_mode="none", return_loss=False
    )
    report = result.classification_report
    micro = report.get("micro avg", {})
    per_label = {
        k: {"precision": v["precision"], "recall": v["recall"], "f1": v["f1-score"], "support": int(v["support"])}
        for k, v in report.items()
        if isinstance(v, dict) and not k.endswith("avg")
    }
    return {
        "precision": float(micro.get("precision", 0.0)),
        "recall": float(micro.get("recall", 0.0)),
        "f1": float(result.main_score),
        "sentences": len(sents),
        "per_label": per_label,
    }


def load_labelled(path: str | Path) -> list[TaggedSentence]:
    """Read a hand-labelled JSONL fixture: ``{"text", "spans": [{"start", "end", "label", ...}]}`` per line.

    Raises:
        DatasetError: a missing file, bad JSON, or a span off token boundaries (names the line).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError("Labelled file does not exist.", path=str(path), fix="pass --fixture FILE (JSON Lines)")
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            out.append(spans_to_tags(row["text"], row["spans"]))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
            raise DatasetError(
                f"bad labelled line ({err})",
                path=str(path),
                line=n,
                fix='write {"text": ..., "spans": [{"start", "end", "label"}]} on each line',
            ) from err
    return out
