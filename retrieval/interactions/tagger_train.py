"""Training the metadata tagger offline (``tailor train-tagger``), with no download.

Embeddings: Flair ``CharacterEmbeddings`` over a character :class:`flair.data.Dictionary` built
from the generated corpus (the default one would be downloaded), run over all the tokens of a
batch at once (:class:`BatchedCharacterEmbeddings`; Flair's own loops sentence by sentence and is
about 5x slower on CPU), stacked with ``OneHotEmbeddings`` learnt from scratch on the corpus.
Trained by Flair's ``ModelTrainer`` with ``embeddings_storage_mode="none"`` (other modes keep stale
embeddings of the trainable layers and F1 collapses).
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from flair.data import Corpus, Dictionary, Sentence
from flair.datasets import FlairDatapointDataset
from flair.embeddings import OneHotEmbeddings, StackedEmbeddings
from flair.models import SequenceTagger
from flair.trainers import ModelTrainer
from flair.trainers.plugins.base import TrainerPlugin
from tqdm import tqdm

from retrieval.catalog.taxonomy import Taxonomy
from retrieval.config import save_config, to_dict
from retrieval.errors import ConfigError
from retrieval.interactions.tagger import (
    CONFIG_FILE,
    MODEL_FILE,
    REPORT_FILE,
    TAG_TYPE,
    TaggerConfig,
    evaluate_model,
    quiet_flair,
    to_flair,
)
from retrieval.interactions.tagger_bio import labels_for
from retrieval.interactions.tagger_embeddings import BatchedCharacterEmbeddings
from retrieval.interactions.tagger_sentences import SentenceGenerator

log = logging.getLogger(__name__)

OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}
BASE_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-'/.,!?&()\u2019"


class _TqdmPlugin(TrainerPlugin):
    """One progress bar over all training batches of all epochs."""

    def __init__(self, total: int) -> None:
        super().__init__()
        self.total = total
        self.bar: tqdm | None = None

    @TrainerPlugin.hook
    def after_setup(self, **kw: Any) -> None:
        self.bar = tqdm(total=self.total, desc="train tagger", unit="batch")

    @TrainerPlugin.hook
    def after_training_batch(self, **kw: Any) -> None:
        if self.bar is not None:
            self.bar.update(1)

    @TrainerPlugin.hook
    def after_training_epoch(self, epoch: int, **kw: Any) -> None:
        if self.bar is not None:
            self.bar.set_postfix(epoch=epoch)

    @TrainerPlugin.hook
    def after_training_loop(self, **kw: Any) -> None:
        if self.bar is not None:
            self.bar.close()

    @property
    def attach_to_all_processes(self) -> bool:
        return False


@dataclass(frozen=True)
class TrainReport:
    """What training measured (also saved as ``train_report.json``)."""

    seconds: float
    train_sentences: int
    dev_f1: float
    heldout: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "seconds": self.seconds,
            "train_sentences": self.train_sentences,
            "dev_f1": self.dev_f1,
            "heldout": self.heldout,
        }


def char_dictionary(sentences: list[Sentence]) -> Dictionary:
    """A character dictionary (with ``<unk>``) of the corpus plus common characters."""
    chars = Dictionary(add_unk=True)
    for c in sorted(set(BASE_CHARS) | {c for s in sentences for t in s for c in t.text}):
        chars.add_item(c)
    return chars


def build_tagger(cfg: TaggerConfig, corpus: Corpus) -> SequenceTagger:
    """An untrained SequenceTagger for ``corpus`` as configured."""
    sentences = list(corpus.train)  # type: ignore[call-overload]  # a torch Dataset iterates by __getitem__
    chars = BatchedCharacterEmbeddings(char_dictionary(sentences), cfg.char_embedding_dim, cfg.char_hidden_size)
    embs: list[Any] = [chars]
    if cfg.word_embedding_dim > 0:
        embs.append(
            OneHotEmbeddings.from_corpus(corpus, min_freq=cfg.word_min_freq, embedding_length=cfg.word_embedding_dim)
        )
    tag_dict = corpus.make_label_dictionary(TAG_TYPE, add_unk=False)
    return SequenceTagger(
        hidden_size=cfg.hidden_size,
        embeddings=StackedEmbeddings(embs),
        tag_dictionary=tag_dict,
        tag_type=TAG_TYPE,
        use_crf=cfg.use_crf,
    )


def train_tagger(
    out_dir: str | Path, config: TaggerConfig | None = None, taxonomy: Taxonomy | None = None
) -> TrainReport:
    """Generate sentences, train a tagger, evaluate it on held-out sentences and save it in ``out_dir``.

    Args:
        out_dir: model folder (created); holds tagger.pt, tagger_config.json, train_report.json.
        config: training settings (default :class:`TaggerConfig`).
        taxonomy: the vocabulary and labels (default: the file named in ``config.taxonomy``).

    Raises:
        ConfigError: a setting is out of range.
    """
    cfg = config or TaggerConfig()
    if cfg.optimizer not in OPTIMIZERS:
        raise ConfigError(f"Unknown optimizer {cfg.optimizer!r}.", fix=f"use one of {', '.join(OPTIMIZERS)}")
    if cfg.sentences < 20 or cfg.dev_sentences < 10 or cfg.test_sentences < 10 or cfg.epochs < 1:
        raise ConfigError(
            "Too few sentences or epochs to train a tagger.", fix="use --sentences >= 20 and --epochs >= 1"
        )
    taxonomy = taxonomy or Taxonomy.load(cfg.taxonomy)
    cfg = replace(
        cfg,
        taxonomy=str(Path(taxonomy.source).resolve()) if Path(taxonomy.source).is_file() else cfg.taxonomy,
        labels=labels_for(taxonomy),
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, cfg.threads))
    try:
        report = _train(cfg, taxonomy, out)
    finally:
        torch.set_num_threads(threads)
    log.info(
        "tagger trained in %.1f s: dev F1 %.3f, held-out F1 %.3f -> %s",
        report.seconds,
        report.dev_f1,
        report.heldout["f1"],
        out,
    )
    return report


def _train(cfg: TaggerConfig, taxonomy: Taxonomy, out: Path) -> TrainReport:
    started = time.perf_counter()
    train = SentenceGenerator(taxonomy, seed=cfg.seed).sentences(cfg.sentences)
    dev = SentenceGenerator(taxonomy, seed=cfg.seed + 1).sentences(cfg.dev_sentences)
    test = SentenceGenerator(taxonomy, seed=cfg.seed + 2, held_out_novel=True).sentences(cfg.test_sentences)
    corpus = Corpus(
        FlairDatapointDataset([to_flair(s) for s in train]),
        FlairDatapointDataset([to_flair(s) for s in dev]),
        None,
        sample_missing_splits=False,
    )
    with quiet_flair():
        model = build_tagger(cfg, corpus)
        batches = cfg.epochs * math.ceil(cfg.sentences / cfg.mini_batch_size)
        with tempfile.TemporaryDirectory(prefix="tagger-", dir=out) as work:
            ModelTrainer(model, corpus).train(
                work,
                optimizer=OPTIMIZERS[cfg.optimizer],
                learning_rate=cfg.learning_rate,
                mini_batch_size=cfg.mini_batch_size,
                max_epochs=cfg.epochs,
                embeddings_storage_mode="none",
                shuffle=True,
                save_final_model=False,
                create_file_logs=False,
                create_loss_file=False,
                plugins=[_TqdmPlugin(batches)],
            )
    model.eval()
    seconds = time.perf_counter() - started
    dev_f1 = evaluate_model(model, dev)["f1"]
    heldout = evaluate_model(model, test)
    model.save(out / MODEL_FILE)
    save_config(cfg, out / CONFIG_FILE)
    report = TrainReport(round(seconds, 1), len(train), round(dev_f1, 4), heldout)
    (out / REPORT_FILE).write_text(json.dumps({**report.to_dict(), "config": to_dict(cfg)}, indent=2) + "\n")
    return report
