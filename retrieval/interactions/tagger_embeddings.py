"""The tagger's character embeddings, registered with Flair so that a saved tagger loads.

Imported by :mod:`.tagger_train` (to build a tagger) and by :meth:`.tagger.MetadataTagger.load` (Flair
finds the class by its registered name when it unpickles a model).
"""

from __future__ import annotations

import torch
from flair.data import Sentence
from flair.embeddings import CharacterEmbeddings
from flair.embeddings.base import register_embeddings


@register_embeddings("TailorBatchedCharacterEmbeddings")
class BatchedCharacterEmbeddings(CharacterEmbeddings):
    """Flair's character BiLSTM word embeddings, computed for every token of a batch in one pass.

    Same parameters as :class:`flair.embeddings.CharacterEmbeddings`; a word's vector is the final
    hidden state of both LSTM directions (Lample et al., 2016).
    """

    def _add_embeddings_internal(self, sentences: list[Sentence]) -> list[Sentence]:
        tokens = [t for s in sentences for t in s.tokens]
        if not tokens:
            return sentences
        lookup = self.char_dictionary.get_idx_for_item
        ids = [torch.tensor([lookup(c) for c in t.text] or [0], dtype=torch.long) for t in tokens]
        lengths = torch.tensor([len(x) for x in ids])
        padded = torch.nn.utils.rnn.pad_sequence(ids).to(self.char_embedding.weight.device)
        packed = torch.nn.utils.rnn.pack_padded_sequence(self.char_embedding(padded), lengths, enforce_sorted=False)
        _, (hidden, _) = self.char_rnn(packed)
        vectors = torch.cat([hidden[0], hidden[1]], dim=1)
        for token, vec in zip(tokens, vectors, strict=True):
            token.set_embedding(self.name, vec)
        return sentences
