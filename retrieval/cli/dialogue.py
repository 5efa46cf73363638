"""``tailor vocab``: generate the dialogue's NLU vocabulary from the taxonomy (and FashionIQ captions)."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_CAPTIONS = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "fashioniq" / "captions"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``vocab`` subcommand."""
    p = sub.add_parser(
        "vocab",
        help="generate Rasa entities, lookup tables, synonyms and examples from the taxonomy",
        description="Writes --out (taxonomy vocabulary) and, with --captions, --captions-out (sampled "
        "FashionIQ train captions as modify examples). Both files are generated: never edit them.",
    )
    p.add_argument("--taxonomy", default="data/taxonomy.yml", help="taxonomy YAML (default: %(default)s)")
    p.add_argument("--out", default="data/nlu/vocabulary.yml", help="output NLU file (default: %(default)s)")
    p.add_argument("--captions", default=None, help=f"FashionIQ captions/ folder (e.g. {DEFAULT_CAPTIONS})")
    p.add_argument(
        "--captions-out", default="data/nlu/fashioniq_modify.yml", help="caption examples file (default: %(default)s)"
    )
    p.add_argument("--sample", type=int, default=400, help="train captions to sample (default: %(default)s)")
    p.add_argument("--seed", type=int, default=13, help="sampling seed (default: %(default)s)")
    p.set_defaults(func=_vocab)


def _vocab(args: argparse.Namespace) -> int:
    # lazy: the taxonomy and vocabulary load YAML; tailor --help stays fast
    from retrieval.catalog.taxonomy import Taxonomy
    from retrieval.catalog.vocabulary import VocabConfig, entity_names, write_caption_examples, write_vocabulary

    taxonomy = Taxonomy.load(args.taxonomy)
    cfg = VocabConfig(seed=args.seed, caption_sample=args.sample)
    out = write_vocabulary(taxonomy, args.out, cfg)
    print(f"wrote {out} (entities: {', '.join(entity_names(taxonomy))})")
    if args.captions:
        caps = write_caption_examples(taxonomy, args.captions, args.captions_out, cfg)
        print(f"wrote {caps} ({args.sample} FashionIQ train captions as modify examples)")
    return 0
