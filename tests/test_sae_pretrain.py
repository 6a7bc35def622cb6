"""The SAE, the greedy layer-wise wiring (dropout placement, which layers train), the
reconstruction losses and the fast-path pieces (device batches, chunking) on tiny nets."""

import pytest
import torch
from omegaconf import OmegaConf
from torch.nn import functional as F

from src.engine.batches import BatchStream
from src.engine.chunks import chunk_plan
from src.engine.switches import FastOptions, resolve_fast
from src.models.sae import SAE, SAEStack
from src.pretraining.module import (
    SAEPretrainModule,
    Stage,
    reconstruction_loss,
    stage_loss,
    stages,
    step_lr,
)
from tests.helpers.sae import snapshot, tiny

PAPER = OmegaConf.load("conf/pretrain/paper.yaml")


def test_sae_shapes_init_and_linear_ends():
    sae = SAE(784, [500, 500, 2000], 10)
    assert [layer.out_features for layer in sae.encoder] == [500, 500, 2000, 10]
    assert [layer.out_features for layer in sae.decoder] == [2000, 500, 500, 784]
    w = sae.encoder[2].weight.detach()
    assert abs(float(w.std()) - 0.01) < 5e-4 and abs(float(w.mean())) < 5e-4
    assert all(
        float(layer.bias.detach().abs().max()) == 0 for layer in [*sae.encoder, *sae.decoder]
    )
    net, x = tiny(), torch.randn(8, 6)
    h = F.relu(net.encoder[1](F.relu(net.encoder[0](x))))
    torch.testing.assert_close(net.encode(x), net.encoder[2](h))  # embedding: no ReLU
    z = net.encode(x)
    r = net.decoder[2](F.relu(net.decoder[1](F.relu(net.decoder[0](z)))))
    torch.testing.assert_close(net(x), r)  # reconstruction: no ReLU
    assert (net(x) < 0).any()


def test_layer0_input_is_not_corrupted_and_recon_is_linear():
    net, x = tiny(), torch.randn(16, 6)
    expected = F.mse_loss(net.decoder[2](F.relu(net.encoder[0](x))), x)
    # input_dropout=1 would zero the input of any layer i > 0; layer 0 must ignore it
    torch.testing.assert_close(stage_loss(net, x, 0, 1.0, 0.0, "mean"), expected)
    # hidden dropout applies to layer 0: p=1 zeroes the code, so recon = decoder bias = 0
    torch.testing.assert_close(stage_loss(net, x, 0, 0.0, 1.0, "mean"), x.pow(2).mean())


def test_inner_layer_input_dropout_and_relu_reconstruction():
    net = tiny()
    h = F.relu(torch.randn(16, 5))  # output of layer 0 after its ReLU
    with torch.no_grad():
        net.decoder[1].weight.copy_(-net.decoder[1].weight.abs())  # negative recon pre-ReLU
    hidden = F.relu(net.encoder[1](h))
    expected = F.mse_loss(F.relu(net.decoder[1](hidden)), h)
    torch.testing.assert_close(stage_loss(net, h, 1, 0.0, 0.0, "mean"), expected)
    assert float(expected.detach()) == pytest.approx(float(h.pow(2).mean()))  # ReLU clipped it
    # input corrupted for i > 0: p=1 zeroes it (zero biases → zero recon)
    torch.testing.assert_close(stage_loss(net, h, 1, 1.0, 0.0, "mean"), h.pow(2).mean())


def test_embedding_layer_has_no_hidden_dropout():
    net, h = tiny(), F.relu(torch.randn(16, 4))
    expected = F.mse_loss(F.relu(net.decoder[0](net.encoder[2](h))), h)
    torch.testing.assert_close(stage_loss(net, h, 2, 0.0, 1.0, "mean"), expected)


def test_caffe_sum_reduction():
    a, b = torch.randn(4, 3), torch.randn(4, 3)
    torch.testing.assert_close(reconstruction_loss(a, b, "caffe_sum"), (a - b).pow(2).sum() / 8)
    torch.testing.assert_close(reconstruction_loss(a, b, "mean"), (a - b).pow(2).mean())


def test_stages_and_lr_schedule_follow_config():
    names = [s.name for s in stages(SAE(6, [5, 4], 3), PAPER)]
    assert names == ["layer0", "layer1", "layer2", "finetune"]
    adam = OmegaConf.merge(PAPER, OmegaConf.load("conf/pretrain/end_to_end_adam.yaml"))
    only = stages(SAE(6, [5, 4], 3), adam)
    assert [(s.name, s.optimizer, s.input_dropout) for s in only] == [("finetune", "adam", 0.0)]
    assert [step_lr(0.1, it, 20000, 0.1) for it in (0, 19999, 20000, 40000)] == pytest.approx(
        [0.1, 0.1, 0.01, 0.001]
    )


@pytest.mark.parametrize("layer", [0, 1, 2, None])
def test_each_stage_trains_only_its_layers(layer):
    net, x = tiny(init_std=0.1), torch.randn(40, 6)
    cfg = OmegaConf.merge(PAPER, {"batch_size": 8})
    stage = Stage("s", layer, 5, "sgd", 0.2, 0.2)
    before = snapshot(net)
    stack = SAEStack([net])
    module = SAEPretrainModule(stack, x[None], stage, cfg, FastOptions(), seeds=[0])
    module.training_step((0, 5), 0)
    module.on_train_end()
    stack.unstack_into([net])
    moved = {
        k.rsplit(".", 1)[0] for k, v in net.state_dict().items() if not torch.equal(v, before[k])
    }
    if layer is None:
        expected = {f"encoder.{i}" for i in range(3)} | {f"decoder.{i}" for i in range(3)}
    else:
        expected = {f"encoder.{layer}", f"decoder.{2 - layer}"}
    assert moved == expected
    assert all(p.requires_grad for p in stack.parameters())


def test_chunking_does_not_change_the_maths():
    """steps_per_call only groups iterations: 6 calls of 1 == 1 call of 6, bit for bit."""
    results = []
    for plan in ([(i, 1) for i in range(6)], [(0, 6)]):
        net, x = tiny(init_std=0.1), torch.randn(30, 6, generator=torch.Generator().manual_seed(1))
        stack = SAEStack([net])
        module = SAEPretrainModule(
            stack, x[None], Stage("s", 1, 6, "sgd", 0.2, 0.2), PAPER, FastOptions(), seeds=[3]
        )
        for start, length in plan:
            module.training_step((start, length), 0)
        results.append(snapshot(stack))
    assert all(torch.equal(results[0][k], results[1][k]) for k in results[0])


def test_losses_logged_inside_a_chunk_are_those_of_their_iterations():
    """Losses are kept on the device during a chunk and read once at its end: the values
    logged at iterations 2, 4, 6 of one 6-iteration chunk are those that 1-iteration chunks
    (read at once) log."""
    logged = []
    for plan in ([(i, 1) for i in range(6)], [(0, 6)]):
        rows: list[tuple[int, float]] = []
        net, x = tiny(init_std=0.1), torch.randn(30, 6, generator=torch.Generator().manual_seed(1))
        module = SAEPretrainModule(
            SAEStack([net]), x[None], Stage("s", 1, 6, "sgd", 0.2, 0.2), PAPER, FastOptions(),
            seeds=[3], log_fn=lambda m, step, rows=rows: rows.append((step, m["pretrain/s/loss"])),
            log_every=2,
        )  # fmt: skip
        for start, length in plan:
            module.training_step((start, length), 0)
        logged.append(rows)
    assert [step for step, _ in logged[1]] == [2, 4, 6]
    assert logged[0] == logged[1] and len({v for _, v in logged[1]}) == 3


def test_batch_stream_permutes_and_wraps_with_fixed_size():
    stream = BatchStream(10, 4, torch.device("cpu"), seed=0)
    batches = [stream.next() for _ in range(5)]  # 20 indices = 2 full permutations
    assert all(len(b) == 4 for b in batches)
    flat = torch.cat(batches)
    assert sorted(flat[:10].tolist()) == list(range(10))
    assert sorted(flat[10:].tolist()) == list(range(10))
    assert BatchStream(3, 256, torch.device("cpu"), 0).next().shape == (3,)


def test_chunk_plan_respects_boundaries():
    assert chunk_plan(10, 4) == [(0, 4), (4, 4), (8, 2)]
    assert chunk_plan(12, 4, boundary=5) == [(0, 4), (4, 1), (5, 4), (9, 1), (10, 2)]
    assert sum(n for _, n in chunk_plan(1000, 7, 160)) == 1000


def test_fast_auto_is_off_on_cpu():
    """On the CPU auto only groups iterations (50 per Lightning call); every kernel switch is off."""
    opts = resolve_fast(OmegaConf.load("conf/fast/auto.yaml"), torch.device("cpu"))
    assert (opts.steps_per_call, opts.cuda_graphs, opts.fused_optimizer, opts.tf32) == (
        50,
        False,
        False,
        False,
    )
    forced = resolve_fast({"cuda_graphs": True, "steps_per_call": 7}, torch.device("cpu"))
    assert forced.cuda_graphs is False and forced.steps_per_call == 7


def test_dropout_drops_a_fraction_p_and_rescales_the_rest():
    """Inverted dropout: a share p of the entries is zeroed, the rest is divided by 1 − p."""
    from src.pretraining.module import dropout

    x = torch.ones(200, 500)
    out = dropout(x, 0.2, [torch.Generator().manual_seed(0)])
    zeroed = float((out == 0).float().mean())
    assert abs(zeroed - 0.2) < 0.005  # 100,000 draws: 4 standard deviations ≈ 0.005
    assert torch.allclose(out[out != 0], torch.full_like(out[out != 0], 1.25))
    assert dropout(x, 0.0) is x and float(dropout(x, 1.0).abs().sum()) == 0.0
