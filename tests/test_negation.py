"""One negation vocabulary (``data/taxonomy.yml``): the dialogue actions and the engine agree."""

from __future__ import annotations

import pytest

from actions.modifications import ModState, leftover, merge
from retrieval.catalog.negation import unwanted_keys
from retrieval.catalog.taxonomy import Taxonomy
from retrieval.errors import TaxonomyError

TAXONOMY = Taxonomy.load()
DROPPED = {
    "without the hood": "details:hood",
    "same but lose the hood": "details:hood",
    "not striped": "pattern:striped",
    "no pockets please": "details:pockets",
    "in black instead of red": "color:red",
    "navy rather than red": "color:red",
    "drop the belt": "details:belt",
    "without any pockets": "details:pockets",
    "not in red": "color:red",
    "not so long": "length:maxi",
    "take off the hood": "details:hood",
    "get rid of the belt and make it red": "details:belt",
    "ditch the pockets": "details:pockets",
}
KEPT = {
    "with a hood": "details:hood",
    "made from silk": "material:silk",
    "striped, not too short": "pattern:striped",
    "red with no belt": "color:red",
}


@pytest.mark.parametrize("text, key", [*DROPPED.items(), *KEPT.items()])
def test_actions_and_engine_agree(text, key):
    engine_drops = key in unwanted_keys(text, TAXONOMY)
    after = merge(ModState(keys=(key,)), text, TAXONOMY)
    actions_drop = key not in after.keys
    assert engine_drops == actions_drop == (text in DROPPED), (text, engine_drops, actions_drop)


def test_negation_words_leave_no_note():
    assert leftover("same but lose the hood", TAXONOMY) == ""
    assert leftover("navy rather than red, shinier", TAXONOMY) == "shinier"
    assert leftover("not shiny", TAXONOMY) == "not shiny"  # no taxonomy value: the words go on as they are


def test_vocabulary_is_data():
    assert {"no", "without", "lose", "instead of"} <= set(TAXONOMY.negations.phrases)
    data = {
        "concepts": {"clothing": {"children": ["dress"]}},
        "categories": {"dress": {}},
        "groups": {"color": {"relation": "exclusive", "values": {"red": [], "black": []}}},
    }
    assert Taxonomy(data).negations == TAXONOMY.negations  # no section: the project's words
    own = Taxonomy({**data, "negations": {"phrases": ["sans"]}})
    assert unwanted_keys("sans red", own) == {"color:red"} and unwanted_keys("no red", own) == set()
    with pytest.raises(TaxonomyError, match="quote"):
        Taxonomy({**data, "negations": {"phrases": [False, "not"]}})
