"""DEC's stacked autoencoder: d-500-500-2000-10 encoder and the mirrored decoder."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from omegaconf import DictConfig
from torch import nn
from torch.nn import functional as F


class SAE(nn.Module):
    """Encoder ``d → h1 → … → e`` and decoder ``e → … → h1 → d`` of linear layers.

    ReLU follows every layer except the embedding (last encoder layer) and the reconstruction
    (last decoder layer), which are linear. ``encoder[i]`` and ``decoder[L-1-i]`` form the
    one-hidden-layer denoising autoencoder of greedy layer ``i``.
    """

    def __init__(
        self, in_dim: int, hidden_dims: Sequence[int], embedding_dim: int, init_std: float = 0.01
    ) -> None:
        super().__init__()
        dims = [int(in_dim), *map(int, hidden_dims), int(embedding_dim)]
        self.dims = dims
        self.encoder = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True)
        )
        rev = dims[::-1]
        self.decoder = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(rev[:-1], rev[1:], strict=True)
        )
        for layer in [*self.encoder, *self.decoder]:
            nn.init.normal_(layer.weight, 0.0, init_std)
            nn.init.zeros_(layer.bias)

    @property
    def n_layers(self) -> int:
        return len(self.encoder)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The embedding z = f(x) (linear last layer)."""
        for i, layer in enumerate(self.encoder):
            x = layer(x)
            if i < self.n_layers - 1:
                x = F.relu(x)
        return x

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The reconstruction (linear last layer)."""
        for i, layer in enumerate(self.decoder):
            z = layer(z)
            if i < self.n_layers - 1:
                z = F.relu(z)
        return z

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def encode_below(self, x: torch.Tensor, layer: int) -> torch.Tensor:
        """Output of encoder layers ``0 … layer-1`` (after their ReLU): greedy layer's input."""
        for i in range(layer):
            x = F.relu(self.encoder[i](x))
        return x

    def arch(self) -> dict:
        """What ``from_arch`` needs to rebuild this network (stored in checkpoints)."""
        return {
            "in_dim": self.dims[0],
            "hidden_dims": self.dims[1:-1],
            "embedding_dim": self.dims[-1],
        }

    @classmethod
    def from_arch(cls, arch: dict, init_std: float = 0.01) -> SAE:
        return cls(arch["in_dim"], arch["hidden_dims"], arch["embedding_dim"], init_std)


def build_sae(in_dim: int, arch_cfg: DictConfig) -> SAE:
    """The SAE ``conf/arch/sae.yaml`` describes, for inputs of dimension ``in_dim``."""
    return SAE(in_dim, list(arch_cfg.hidden_dims), arch_cfg.embedding_dim, arch_cfg.init_std)


class StackedLinear(nn.Module):
    """``S`` linear layers of one shape as one: weight ``[S, out, in]``, bias ``[S, out]``;
    input ``[S, B, in]`` → output ``[S, B, out]``, member ``s`` through layer ``s``.

    Several members on CUDA: one ``baddbmm`` (the batched kernel is the point there). One
    member, or the CPU: a plain ``linear`` per member, on views of the stacked weights (on the
    CPU a batch-of-one ``baddbmm`` and its backward cost ~30 % more, and a member's arithmetic
    is then exactly that of a lone run).
    """

    def __init__(self, layers: Sequence[nn.Linear]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.stack([layer.weight.detach() for layer in layers]))
        self.bias = nn.Parameter(torch.stack([layer.bias.detach() for layer in layers]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        members = self.weight.shape[0]
        if members == 1:  # views all the way: no gradient copies
            return F.linear(x.reshape(x.shape[-2], -1), self.weight.view(self.weight.shape[1:]),
                            self.bias.view(-1)).unsqueeze(0)  # fmt: skip
        if x.device.type != "cuda":
            return torch.stack(
                [F.linear(x[m], self.weight[m], self.bias[m]) for m in range(members)]
            )
        return torch.baddbmm(self.bias.unsqueeze(1), x, self.weight.transpose(1, 2))


class SAEStack(nn.Module):
    """``S`` SAEs of one architecture (e.g. the SAEs of several seeds) as one batched model.

    Each layer of the SAEs becomes a :class:`StackedLinear`, so ``encoder``, ``decoder``,
    ``encode_below`` and ``n_layers`` work as on an :class:`SAE`, on inputs ``[S, B, d]``
    (member ``s`` sees only its own batch and its own weights). The state-dict keys are the
    SAE's, with a leading member axis: ``member_state_dict(s)`` is SAE ``s``'s state dict.
    """

    def __init__(self, saes: Sequence[SAE]) -> None:
        super().__init__()
        if not saes or any(s.dims != saes[0].dims for s in saes):
            raise ValueError("SAEStack needs one or more SAEs of one architecture")
        self.dims = saes[0].dims
        self.encoder = nn.ModuleList(
            StackedLinear([s.encoder[i] for s in saes]) for i in range(saes[0].n_layers)
        )
        self.decoder = nn.ModuleList(
            StackedLinear([s.decoder[i] for s in saes]) for i in range(saes[0].n_layers)
        )

    @property
    def n_layers(self) -> int:
        return len(self.encoder)

    @property
    def n_members(self) -> int:
        return int(self.encoder[0].weight.shape[0])

    encode_below = SAE.encode_below
    encode = SAE.encode
    decode = SAE.decode
    forward = SAE.forward

    def member_state_dict(self, member: int) -> dict[str, torch.Tensor]:
        """SAE ``member``'s weights (views into the stack)."""
        return {k: v[member] for k, v in self.state_dict().items()}

    @torch.no_grad()
    def unstack_into(self, saes: Sequence[SAE]) -> None:
        """Copy every member's weights into its SAE (``saes`` in the stack's order)."""
        for member, sae in enumerate(saes):
            sae.load_state_dict(self.member_state_dict(member))
