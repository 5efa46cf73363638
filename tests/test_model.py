"""R-GCN on a tiny hand-made heterograph: shapes, local scope, sink captions, k-hop re-embedding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from retrieval.catalog.taxonomy import Taxonomy
from retrieval.graph import schema
from retrieval.graph.build import CaptionSpec, build_graph
from retrieval.model.heads import ComposeAEHead, ScaledNorm, TirgHead
from retrieval.model.losses import compositional_loss, link_prediction_loss, own_product_negatives
from retrieval.model.rgcn import RGCN
from retrieval.training.artifacts import TrainedModel
from retrieval.training.config import TrainConfig

IMG_DIM, TXT_DIM, HIDDEN = 12, 8, 16


def fake_text(texts: list[str]) -> np.ndarray:
    """Deterministic pseudo text features."""
    return np.stack([np.random.RandomState(sum(map(ord, t)) % 2**31).randn(TXT_DIM) for t in texts]).astype(np.float32)


@pytest.fixture(scope="module")
def tiny():
    """5 images, 2 captions, a few attributes, under the real taxonomy."""
    tax = Taxonomy.load()
    rng = np.random.RandomState(0)
    attrs = [
        ["category:dress", "color:red"],
        ["category:dress", "color:black"],
        ["category:shirt", "color:red"],
        ["category:shirt", "pattern:striped"],
        ["category:skirt"],
    ]
    caps = [
        CaptionSpec("replace red with black", "a", ("color:red", "color:black")),
        CaptionSpec("make it striped", "c", ("pattern:striped",)),
    ]
    return build_graph(
        list("abcde"),
        attrs,
        caps,
        tax,
        image_features=rng.randn(5, IMG_DIM).astype(np.float32),
        caption_features=fake_text([c.text for c in caps]),
        text_encoder=fake_text,
    )


def make_model(info, caption_messages: bool = False, jk: bool = False) -> tuple[RGCN, TrainConfig]:
    torch.manual_seed(0)
    cfg = TrainConfig(hidden=HIDDEN, num_bases=3, caption_messages=caption_messages, dropout=0.0, jk_readout=jk)
    g = info.graph
    in_dims = {nt: int(g.nodes[nt].data["feat"].shape[1]) for nt in g.ntypes}
    model = RGCN(
        in_dims,
        etypes=cfg.message_etypes(),
        hidden=HIDDEN,
        num_layers=3,
        num_bases=3,
        dropout=0.0,
        residual=True,
        jk=jk,
    )
    if jk:  # a gate unlike its initialisation, so a missed readout shows
        torch.nn.init.normal_(model.jk_gate, 0.5, 1.0)
    model.set_feature_stats(feats(g))
    return model, cfg


def feats(g) -> dict[str, torch.Tensor]:
    return {nt: g.nodes[nt].data["feat"] for nt in g.ntypes}


def test_graph_has_every_relation_and_reverses(tiny):
    g = tiny.graph
    assert set(g.canonical_etypes) == set(schema.ALL_RELATIONS)
    assert g.num_edges(schema.IMAGE_HAS_ATTRIBUTE) == 9
    assert g.num_edges(schema.reverse(schema.IMAGE_HAS_ATTRIBUTE)) == 9
    assert g.num_edges(schema.IMAGE_LIKED_WITH) == 0
    # concepts: dress -> full-body -> clothing, shirt -> top -> clothing, colour -> group:color -> clothing
    assert {"full-body", "top", "bottom", "clothing", "group:color", "group:pattern"} <= set(tiny.ids.concepts)


def test_forward_shapes_and_local_scope(tiny):
    g = tiny.graph
    model, _ = make_model(tiny)
    before = {nt: set(g.nodes[nt].data) for nt in g.ntypes}
    out = model(g, feats(g))
    assert {nt: tuple(x.shape) for nt, x in out.items()} == {nt: (g.num_nodes(nt), HIDDEN) for nt in g.ntypes}
    assert {nt: set(g.nodes[nt].data) for nt in g.ntypes} == before
    states = model(g, feats(g), all_layers=True)
    assert len(states) == 4 and torch.allclose(states[-1]["image"], out["image"])
    # basis decomposition: every relation's weight is a combination of the shared bases
    assert model.layers[0].basis.bases.shape == (3, HIDDEN, HIDDEN)


def test_basis_weights_are_shared(tiny):
    model, _ = make_model(tiny)
    n_params = sum(p.numel() for p in model.layers[0].parameters())
    n_rel = len(model.etypes)
    assert n_params == 3 * HIDDEN * HIDDEN + n_rel * 3 + HIDDEN * HIDDEN + HIDDEN


@pytest.mark.parametrize("caption_messages", [False, True])
@pytest.mark.parametrize("jk", [False, True])
def test_sink_caption_equals_full_forward(tiny, caption_messages, jk):
    """A new caption embedded from cached states == the full forward with the caption node added."""
    g = tiny.graph
    model, cfg = make_model(tiny, caption_messages, jk)
    model.eval()
    tm = TrainedModel(Path(), cfg, tiny, model, ComposeAEHead(HIDDEN, HIDDEN), ScaledNorm())
    text = fake_text(["make it black"])[0]
    cand, attrs = 1, [tiny.ids.index("attribute")["color:black"], tiny.ids.index("attribute")["category:dress"]]
    fast = tm.embed_new_caption(text, cand, attrs)
    g2 = g.clone()
    g2.add_nodes(1, {"feat": torch.as_tensor(text)[None]}, ntype="caption")
    c = g2.num_nodes("caption") - 1
    g2.add_edges([cand], [c], etype=schema.IMAGE_REV_MODIFIES)
    g2.add_edges(attrs, [c, c], etype=schema.ATTRIBUTE_REV_MENTIONS)
    with torch.no_grad():
        full = model(g2, feats(g2))["caption"][c].numpy()
        batched = tm.embed_queries(text[None], [cand], [attrs])
    np.testing.assert_allclose(fast, full, rtol=1e-4, atol=1e-5)
    q = tm.compose(cand, fast)
    np.testing.assert_allclose(q, batched[0], rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        states = model(g2, feats(g2), all_layers=True)
        expect = model.readout(states, "image", torch.tensor([cand]))
        if jk:
            assert not torch.allclose(expect, states[-1]["image"][[cand]])
        expect = torch.nn.functional.normalize(tm.head(expect, torch.as_tensor(full)[None]), dim=-1)[0]
    np.testing.assert_allclose(q, expect.numpy(), rtol=1e-4, atol=1e-5)
    assert abs(np.linalg.norm(q) - 1) < 1e-5
    # the sink changed nothing else
    with torch.no_grad():
        np.testing.assert_allclose(model(g2, feats(g2))["image"].numpy(), tm.states[-1]["image"].numpy(), atol=1e-5)


@pytest.mark.parametrize("jk", [False, True])
def test_reembed_equals_full_reembed(tiny, jk):
    """New attribute node + edges: k-hop re-embedding == a full forward of the edited graph."""
    model, cfg = make_model(tiny, jk=jk)
    model.eval()
    info = type(tiny)(tiny.graph.clone(), tiny.ids)
    tm = TrainedModel(Path(), cfg, info, model, ComposeAEHead(HIDDEN, HIDDEN), ScaledNorm())
    g = info.graph
    g.add_nodes(1, {"feat": torch.as_tensor(fake_text(["linen"]))}, ntype="attribute")
    new = g.num_nodes("attribute") - 1
    g.add_edges([0], [new], etype=schema.IMAGE_HAS_USER_ATTRIBUTE)
    g.add_edges([new], [0], etype=schema.reverse(schema.IMAGE_HAS_USER_ATTRIBUTE))
    g.add_edges([2], [4], etype=schema.IMAGE_LIKED_WITH)
    g.add_edges([4], [2], etype=schema.reverse(schema.IMAGE_LIKED_WITH))
    changed = tm.reembed({"image": [0, 2, 4], "attribute": [new]})
    with torch.no_grad():
        full = model(g, feats(g), all_layers=True)
    for layer, states in enumerate(full):
        for nt, x in states.items():
            np.testing.assert_allclose(tm.states[layer][nt].numpy(), x.numpy(), atol=1e-5, err_msg=f"{layer} {nt}")
    assert new in changed["attribute"] and 0 in changed["image"]
    with torch.no_grad():
        expect = torch.nn.functional.normalize(model.readout(full, "image"), dim=-1).numpy()
    np.testing.assert_allclose(tm.image_embeddings(), expect, atol=1e-5)
    g.add_nodes(1, {"feat": torch.randn(1, IMG_DIM)}, ntype="image")  # a new image: its layer-0 state is read out too
    g.add_edges([5], [new], etype=schema.IMAGE_HAS_USER_ATTRIBUTE)
    g.add_edges([new], [5], etype=schema.reverse(schema.IMAGE_HAS_USER_ATTRIBUTE))
    tm.reembed({"image": [5], "attribute": [new]})
    with torch.no_grad():
        expect = torch.nn.functional.normalize(model.readout(model(g, feats(g), all_layers=True), "image"), dim=-1)
    np.testing.assert_allclose(tm.image_embeddings(), expect.numpy(), atol=1e-5)


def test_heads_shapes_and_compositional_loss():
    torch.manual_seed(0)
    img, txt = torch.randn(6, HIDDEN), torch.randn(6, TXT_DIM)
    tirg = TirgHead(HIDDEN, TXT_DIM)
    assert tirg(img, txt).shape == (6, HIDDEN)
    head = ComposeAEHead(HIDDEN, TXT_DIM)
    q, back = head(img, txt), head(img, txt, conjugate=True)
    assert q.shape == back.shape == (6, HIDDEN) and not torch.allclose(q, back)
    loss = compositional_loss(head, img, txt, torch.randn(6, HIDDEN), ScaledNorm())
    loss.backward()
    assert loss.item() > 0 and head.delta[0].weight.grad is not None


def test_own_product_negatives_name_the_other_photos_of_the_candidates_product():
    tax = Taxonomy.load()
    rng = np.random.RandomState(0)
    info = build_graph(
        list("abcd"),
        [["color:red"]] * 4,
        [],
        tax,
        image_features=rng.randn(4, IMG_DIM).astype(np.float32),
        caption_features=np.zeros((0, TXT_DIM), np.float32),
        text_encoder=fake_text,
        image_products=["p", "p", "p", "q"],
    )
    hard = own_product_negatives(info.graph, torch.tensor([0, 3]), 3)
    assert sorted(hard[0, :2].tolist()) == [1, 2] and hard[0, 2] == -1
    assert hard[1].tolist() == [-1, -1, -1]
    assert own_product_negatives(info.graph, torch.tensor([0]), 0).shape == (1, 0)


def test_link_loss_hard_negatives_raise_the_loss_and_masked_ones_do_not():
    torch.manual_seed(0)
    q, tgt, negs = torch.randn(4, HIDDEN), torch.randn(4, HIDDEN), torch.randn(4, 5, HIDDEN)
    norm = ScaledNorm(4.0)
    base = link_prediction_loss(q, tgt, negs, norm)
    hard = q[:, None, :].repeat(1, 2, 1)  # negatives identical to the query: the hardest possible
    assert link_prediction_loss(q, tgt, negs, norm, hard=hard, hard_mask=torch.ones(4, 2, dtype=torch.bool)) > base
    masked = link_prediction_loss(q, tgt, negs, norm, hard=hard, hard_mask=torch.zeros(4, 2, dtype=torch.bool))
    assert torch.allclose(masked, base)


def test_link_loss_in_batch_negatives_score_the_other_targets_but_not_duplicates_of_the_own():
    torch.manual_seed(0)
    q, tgt, negs = torch.randn(4, HIDDEN), torch.randn(4, HIDDEN), torch.randn(4, 5, HIDDEN)
    norm = ScaledNorm(4.0)
    base = link_prediction_loss(q, tgt, negs, norm)
    assert link_prediction_loss(q, tgt, negs, norm, batch_ids=torch.arange(4)) > base
    same = link_prediction_loss(q, tgt, negs, norm, batch_ids=torch.zeros(4, dtype=torch.int64))  # one target
    assert torch.allclose(same, base)


def test_old_configs_load_with_the_values_they_were_trained_with(tmp_path):
    import json

    from retrieval.config import save_config, to_dict
    from retrieval.training.config import LEGACY_DEFAULTS, load_train_config

    data = {k: v for k, v in to_dict(TrainConfig()).items() if k not in LEGACY_DEFAULTS}
    (tmp_path / "old.json").write_text(json.dumps(data))
    old = load_train_config(tmp_path / "old.json")
    assert all(getattr(old, k) == v for k, v in LEGACY_DEFAULTS.items())
    save_config(TrainConfig(), tmp_path / "new.json")
    assert load_train_config(tmp_path / "new.json") == TrainConfig()


@pytest.mark.parametrize("kind", ["tirg", "composeae"])
def test_numpy_head_equals_the_torch_head(kind):
    from retrieval.model.fast_head import numpy_head
    from retrieval.model.heads import make_head

    torch.manual_seed(1)
    head = make_head(kind, HIDDEN).eval()
    with torch.no_grad():  # trained-looking parameters: layer norms and scales away from their init
        for p in head.parameters():
            p.add_(0.1 * torch.randn_like(p))
    fast = numpy_head(head)
    assert fast is not None
    img, txt = torch.randn(5, HIDDEN), torch.randn(5, HIDDEN)
    with torch.no_grad():
        want = torch.nn.functional.normalize(head(img, txt), dim=-1).numpy()
    for i in range(5):
        np.testing.assert_allclose(fast(img[i].numpy(), txt[i].numpy()), want[i], rtol=1e-4, atol=1e-5)
    assert numpy_head(TirgHead(HIDDEN, HIDDEN, norm="batch")) is None  # batch norm: the caller keeps torch
