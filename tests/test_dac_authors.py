"""The DAC authors' loop piece by piece against hand computations on tiny inputs: Keras
batches, chunk labels (DAC*) and u/l selection (DAC), the losses over a batch's sub-matrix,
batch-statistics BN at label time, the augmentation's ranges, threshold schedules, the chunk
plan, the non-finite stop and the authors' preprocessing."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from src.callbacks.dac import DACThresholdStop
from src.core.config_groups import CONF_DIR
from src.core.errors import UserError
from src.data.augment import ChannelShift, PerSampleRandomAffine, Rescale, build_augment
from src.data.base import ClusterData
from src.data.preprocess import preprocess
from src.models.convnets import AllConvNet
from src.modules.dac import (
    DACModule,
    keras_batches,
    masked_pair_loss,
    predict_features,
    select_pairs,
)


def method_cfg(name: str = "dac", **overrides):
    cfg = OmegaConf.load(CONF_DIR / "method" / "dac.yaml")
    cfg.pop("defaults")
    if name != "dac":
        extra = OmegaConf.load(CONF_DIR / "method" / f"{name}.yaml")
        extra.pop("defaults")
        cfg = OmegaConf.merge(cfg, extra)
    for key, value in overrides.items():
        OmegaConf.update(cfg, key, value)
    return cfg


def tiny_module(name: str = "dac", n: int = 40, **overrides) -> DACModule:
    torch.manual_seed(0)
    net = AllConvNet(1, 8, 3, blocks=[[4], [4]])
    return DACModule(net, torch.randn(n, 1, 8, 8), method_cfg(name, **overrides))


def sizes(cuts):
    return [s.stop - s.start for s in cuts]


def test_keras_batches_keep_the_last_partial_batch():
    assert sizes(keras_batches(1000, 128)) == [128] * 7 + [104]  # one pass over a chunk
    assert sizes(keras_batches(1000, 32)) == [32] * 31 + [8]  # label prediction
    assert sizes(keras_batches(70000, 128)) == [128] * 546 + [112]  # the epoch's prediction
    assert sizes(keras_batches(1000, 128, "drop")) == [128] * 7
    assert sizes(keras_batches(33, 32)) == [33]  # a batch of one would break batch-stat BN
    cuts = keras_batches(1000, 128)
    assert cuts[0].start == 0 and cuts[-1].stop == 1000
    assert all(a.stop == b.start for a, b in zip(cuts, cuts[1:], strict=False))


def _unit(*rows):
    v = torch.tensor(rows, dtype=torch.float32)
    return v / v.norm(dim=1, keepdim=True)


def test_dac_star_chunk_labels_at_a_threshold_by_hand():
    # cosines: f0·f1 = 0.8, f0·f2 = 0.6, f1·f2 = 0.96 (3-4-5 triangles), diagonal 1
    f = _unit([1.0, 0.0], [0.8, 0.6], [0.6, 0.8])
    sim = f @ f.T
    target, mask = select_pairs(sim, 0.8, 0.8, select_all=True)
    assert mask.all()  # every pair labelled, the diagonal too
    # label 1 where sim > th (strict): 0.8 is not above 0.8 (up to rounding: use 0.8 + 1e-6)
    target, _ = select_pairs(sim, 0.8 + 1e-6, 0.8 + 1e-6, select_all=True)
    expected = torch.tensor([[1, 0, 0], [0, 1, 1], [0, 1, 1]], dtype=torch.float32)
    assert torch.equal(target, expected)
    target, _ = select_pairs(sim, 0.5, 0.5, select_all=True)
    assert torch.equal(target, torch.ones(3, 3))
    exact = torch.tensor([[0.5]])
    assert select_pairs(exact, 0.5, 0.5, True)[0].item() == 0.0  # equality is not similar


def test_dac_adaptive_selection_and_labels_by_hand():
    sim = torch.tensor([[1.00, 0.95, 0.85, 0.40], [0.95, 1.00, 0.70, 0.79]])
    target, mask = select_pairs(sim, upper=0.9, lower=0.8)
    # selected: > 0.9 or < 0.8; label 1 where > (0.9 + 0.8)/2 = 0.85
    assert mask.tolist() == [[True, True, False, True], [True, True, True, True]]
    assert (target * mask).tolist() == [[1, 1, 0, 0], [1, 1, 0, 0]]
    # between u and l nothing is selected, whatever side of the midpoint
    assert not select_pairs(torch.tensor([0.86, 0.84]), 0.9, 0.8)[1].any()


def test_losses_over_a_batch_sub_matrix_by_hand():
    chunk_sim = torch.tensor(
        [[1.0, 0.9, 0.2, 0.6], [0.9, 1.0, 0.1, 0.7], [0.2, 0.1, 1.0, 0.3], [0.6, 0.7, 0.3, 1.0]]
    )
    target, mask = select_pairs(chunk_sim, 0.65, 0.65, select_all=True)
    a = torch.tensor([3, 0, 1])  # a batch of the chunk, in shuffled order
    t, m = target[a][:, a], mask[a][:, a]
    assert t.tolist() == [[1, 0, 1], [0, 1, 1], [1, 1, 1]]
    batch_sim = torch.tensor([[0.9, 0.2, 0.5], [0.2, 0.8, 0.6], [0.5, 0.6, 1.0]])
    # MSE over all 9 entries, the diagonal included
    by_hand = (0.1**2 + 0.2**2 + 0.5**2 + 0.2**2 + 0.2**2 + 0.4**2 + 0.5**2 + 0.4**2 + 0) / 9
    assert masked_pair_loss(batch_sim, t, m, "mse").item() == pytest.approx(by_hand)
    # BCE: summed over the selected pairs, divided by their number
    t2, m2 = select_pairs(batch_sim, 0.85, 0.3)  # selected: 0.9, 0.2, 0.2, 1.0
    eps = 1e-7
    terms = -math.log(0.9) - 2 * math.log(0.8) - math.log(1 - eps)
    assert m2.sum().item() == 4
    assert masked_pair_loss(batch_sim, t2, m2, "bce").item() == pytest.approx(terms / 4, rel=1e-5)


def test_labels_use_batch_statistics_of_batches_of_32():
    torch.manual_seed(0)
    bn = nn.BatchNorm1d(2, eps=1e-3, affine=False, track_running_stats=False)
    x = torch.randn(40, 2) * 3 + 1
    probs, _ = predict_features(bn, x, 32)  # eval mode: still batch statistics (Keras mode 2)

    def normalised(part):
        return (part - part.mean(0)) / torch.sqrt(part.var(0, unbiased=False) + 1e-3)

    by_hand = torch.softmax(torch.cat([normalised(x[:32]), normalised(x[32:])]), 1)
    torch.testing.assert_close(probs, by_hand)
    whole = torch.softmax(normalised(x), 1)
    assert not torch.allclose(probs[32:], whole[32:], atol=1e-3)  # the batch matters


def test_predict_restores_the_training_mode():
    net = AllConvNet(1, 8, 3, blocks=[[4], [4]]).train()
    predict_features(net, torch.randn(10, 1, 8, 8), 4)
    assert net.training


def test_dac_star_threshold_falls_by_a_fixed_step_whatever_max_epochs():
    for max_epochs in (1, 20):
        module = tiny_module("dac_star", max_epochs=max_epochs)
        assert module.current_thresholds() == (0.9, 0.9)
        module.lambda_step()
        assert module.current_thresholds()[0] == pytest.approx(0.88)


def test_dac_meet_schedule_stops_when_u_reaches_l(tmp_path):
    module = tiny_module(meet_epochs=5, max_epochs=50)
    stop = DACThresholdStop(tmp_path / "h.csv")
    trainer = SimpleNamespace(logger=None, global_step=0, should_stop=False)
    epochs = 0
    while not trainer.should_stop:
        stop.on_train_epoch_end(trainer, module)
        epochs += 1
    # η = (0.99 − 0.80)/5/2 = 0.019 per epoch: u = l = 0.895 after 5 epochs
    assert epochs == 5 and stop.stopped_by == "u<=l"
    assert [round(r["upper"], 6) for r in stop.history] == [0.971, 0.952, 0.933, 0.914, 0.895]
    assert stop.history[-1]["lower"] == pytest.approx(0.895)


def test_chunk_plan_follows_the_authors_loop():
    module = tiny_module("dac_star", chunk_size=20, batch_size=8, chunk_passes=2)
    assert module.steps_per_epoch() == 2 * 2 * 3  # 2 chunks × 2 passes × (8 + 8 + 4)
    plan = list(module._epoch_plan())
    assert len(plan) == module.steps_per_epoch()
    # chunks in data order: the first 6 batches (2 passes) cover 0..19, each pass once
    for p in range(2):
        idx = torch.cat([plan[p * 3 + j][0] for j in range(3)])
        assert sorted(idx.tolist()) == list(range(20))
    assert [len(plan[j][0]) for j in range(3)] == [8, 8, 4]
    assert sorted(torch.cat([plan[6 + j][0] for j in range(3)]).tolist()) == list(range(20, 40))
    # each batch's targets are the sub-matrix of the labels of the un-augmented chunk (batch 32)
    _, feats = predict_features(module.net, module.x[:20], 32)
    labels, _ = select_pairs(feats @ feats.T, 0.9, 0.9, select_all=True)
    idx, _, (target, mask), _ = plan[1]
    assert torch.equal(target, labels[idx][:, idx]) and mask.all()


def test_augmentation_parameter_ranges():
    aff = PerSampleRandomAffine(10, [0.1, 0.1], [0.95, 1.05])
    x = torch.zeros(4000, 1, 28, 28)
    p = aff.draw(x)
    deg = p["angle"] * 180 / math.pi
    assert deg.abs().max() <= 10 and deg.abs().max() > 9.9
    for key in ("t_row", "t_col"):
        assert p[key].abs().max() <= 2.8 and p[key].abs().max() > 2.7  # ±0.1 × 28 pixels
    for key in ("z_row", "z_col"):
        assert p[key].min() >= 0.95 and p[key].max() <= 1.05
    assert (p["z_row"] != p["z_col"]).all()  # zoom drawn per axis
    assert abs(np.corrcoef(p["z_row"].numpy(), p["z_col"].numpy())[0, 1]) < 0.1


def test_affine_is_nearest_neighbour_about_the_keras_centre():
    img = torch.arange(25, dtype=torch.float32).view(1, 1, 5, 5)
    aff = PerSampleRandomAffine()
    assert torch.equal(aff(img), img)  # no rotation, shift or zoom: identity
    # a shift of 1 pixel along the rows: output row r reads input row r + 1, the edge repeats
    one = {k: torch.zeros(1) for k in ("angle", "t_col")} | {
        "t_row": torch.ones(1),
        "z_row": torch.ones(1),
        "z_col": torch.ones(1),
    }
    aff.draw = lambda x: one
    out = aff(img)[0, 0]
    assert torch.equal(out[:4], img[0, 0, 1:]) and torch.equal(out[4], img[0, 0, 4])
    # zoom 2 about o = 5/2 + 0.5 = 3: output row r reads 3 + 2(r − 3) → rows 0,0,1,3,4 clamped
    aff.draw = lambda x: one | {"t_row": torch.zeros(1), "z_row": torch.full((1,), 2.0)}
    rows = aff(img)[0, 0, :, 0] / 5
    assert rows.tolist() == [0, 0, 1, 3, 4]
    # random draws: nearest interpolation only ever copies input values
    rnd = PerSampleRandomAffine(10, [0.1, 0.1], [0.95, 1.05])
    imgs = torch.rand(16, 1, 12, 12)
    out = rnd(imgs)
    for i in range(16):
        assert torch.isin(out[i], imgs[i]).all()


def test_channel_shift_then_rescale():
    x = torch.rand(500, 1, 6, 6) * 0.8 + 0.1
    shifted = ChannelShift(0.05)(x)
    d = shifted - x
    assert d.abs().max() <= 0.05 + 1e-6
    lo, hi = x.flatten(1).amin(1), x.flatten(1).amax(1)
    assert (shifted.flatten(1).amin(1) >= lo - 1e-6).all()
    assert (shifted.flatten(1).amax(1) <= hi + 1e-6).all()  # clipped to the image's own range
    unclipped = (shifted > lo.view(-1, 1, 1, 1)) & (shifted < hi.view(-1, 1, 1, 1))
    for i in range(5):  # one shift per image where not clipped
        vals = d[i][unclipped[i]]
        assert torch.allclose(vals, vals[0].expand_as(vals), atol=1e-6)
    torch.testing.assert_close(Rescale(0.975)(x), x * 0.975)
    aug = build_augment(OmegaConf.load(CONF_DIR / "method" / "dac.yaml").augment)
    assert [type(t).__name__ for t in aug.transforms] == [
        "PerSampleRandomAffine",
        "ChannelShift",
        "Rescale",
    ]


def test_non_finite_loss_stops_with_one_line():
    module = tiny_module()
    module.loss_sum.fill_(float("nan"))
    with pytest.raises(UserError) as err:
        next(module._epoch_plan())
    msg = str(err.value)
    assert "DAC" in msg and "iteration 0" in msg and "lr 0.001" in msg
    assert "method.optimizer.lr" in msg and "\n" not in msg


def test_unit_center_is_bytes_over_255_minus_the_global_mean():
    x = np.array([[[[0, 255], [51, 102]]], [[[255, 255], [0, 0]]]], dtype=np.float32)
    out = preprocess(ClusterData("t", x, None, 2, None, {"bytes": True}), "unit_center")
    mean = (0 + 1 + 0.2 + 0.4 + 1 + 1 + 0 + 0) / 8
    np.testing.assert_allclose(out.x, x / 255 - mean, atol=1e-6)
    assert out.meta["preprocess_params"]["mean"] == pytest.approx(mean)


def test_predict_all_runs_once_per_version_of_the_weights():
    module = tiny_module()
    first = module.predict_all()
    assert module.predict_all() is first  # the last epoch's scores and the final labels share it
    module.steps_taken += 1  # an optimiser step makes a new version
    assert module.predict_all() is not first
