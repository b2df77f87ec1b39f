"""The IDS-EBGAN generator and the pull-away term.

The generator disguises a real attack: it rewrites only the attack's
*non-functional* features (content and host-based statistics), which an
attacker can shape without breaking the attack, and keeps the functional
ones (intrinsic and time-based features, protocol, service, flag) as they
were.
"""

from __future__ import annotations

import torch
from torch import nn

from ebgan_edge.features import N_FEATURES, NUMERIC_FEATURES

__all__ = ["NON_FUNCTIONAL_FEATURES", "NON_FUNCTIONAL_INDEX", "Generator", "pull_away"]


def _feature_range(first: str, last: str) -> tuple[str, ...]:
    start, stop = NUMERIC_FEATURES.index(first), NUMERIC_FEATURES.index(last)
    return NUMERIC_FEATURES[start : stop + 1]


#: Content features and host-based traffic features: 22 in this encoding,
#: 23 in the paper, which also counts num_outbound_cmds (dropped here, it is
#: zero throughout NSL-KDD).
NON_FUNCTIONAL_FEATURES: tuple[str, ...] = _feature_range(
    "hot", "is_guest_login"
) + _feature_range("dst_host_count", "dst_host_srv_rerror_rate")
#: Their columns in the 121-feature encoding.
NON_FUNCTIONAL_INDEX: tuple[int, ...] = tuple(
    NUMERIC_FEATURES.index(name) for name in NON_FUNCTIONAL_FEATURES
)


class Generator(nn.Module):
    """Noise (and an attack row) to the attack's non-functional features.

    Two hidden layers with LeakyReLU, a sigmoid output because encoded
    numeric features are min-max scaled into [0, 1].

    Parameters
    ----------
    noise_dim : int, default 100
        Width of the Gaussian noise input.
    condition_on_attack : bool, default True
        Concatenate the attack row (all 121 features) to the noise, as
        IDS-EBGAN does; False feeds noise only.
    hidden : tuple of int, default (512, 256)
    leaky_slope : float, default 0.2
    """

    def __init__(
        self,
        noise_dim: int = 100,
        condition_on_attack: bool = True,
        hidden: tuple[int, ...] = (512, 256),
        leaky_slope: float = 0.2,
    ):
        super().__init__()
        self.noise_dim = noise_dim
        self.condition_on_attack = condition_on_attack
        width = noise_dim + (N_FEATURES if condition_on_attack else 0)
        layers: list[nn.Module] = []
        for units in hidden:
            layers += [nn.Linear(width, units), nn.LeakyReLU(leaky_slope)]
            width = units
        layers += [nn.Linear(width, len(NON_FUNCTIONAL_INDEX)), nn.Sigmoid()]
        self.net = nn.Sequential(*layers)
        self.register_buffer(
            "index",
            torch.tensor(NON_FUNCTIONAL_INDEX, dtype=torch.long),
            persistent=False,
        )

    def forward(self, attack: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Adversarial rows: ``attack`` with its non-functional features replaced.

        Parameters
        ----------
        attack : Tensor of shape (n, 121)
            Encoded real attack rows.
        noise : Tensor of shape (n, noise_dim)

        Returns
        -------
        Tensor of shape (n, 121)
        """
        inputs = (
            torch.cat([noise, attack], dim=1) if self.condition_on_attack else noise
        )
        rewritten = self.net(inputs)
        # index_copy keeps the graph through ``rewritten`` while the kept
        # (functional) columns carry no gradient back to the attack rows.
        return attack.index_copy(1, self.index, rewritten)


def pull_away(codes: torch.Tensor) -> torch.Tensor:
    """Pull-away term of a batch of codes (Zhao et al., EBGAN).

    The mean over ordered pairs ``i != j`` of the squared cosine similarity
    of rows ``i`` and ``j``; it is small when the generator's samples point
    in different directions of the encoder's code space, so penalising it
    discourages mode collapse.

    Parameters
    ----------
    codes : Tensor of shape (n, d), n >= 2

    Returns
    -------
    Tensor, scalar
    """
    n = codes.shape[0]
    if n < 2:
        raise ValueError(f"the pull-away term needs at least 2 rows, got {n}")
    # The epsilon keeps an all-zero code (possible after LeakyReLU) finite.
    unit = codes / codes.norm(dim=1, keepdim=True).clamp_min(1e-12)
    cosine = unit @ unit.T
    off_diagonal = (cosine**2).sum() - (cosine.diagonal() ** 2).sum()
    return off_diagonal / (n * (n - 1))
