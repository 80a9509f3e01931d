"""Identity-balanced P x K batches: P people, K photos of each, as triplet mining needs."""

from __future__ import annotations

from typing import Iterator

import numpy as np

__all__ = ["PKSampler"]


class PKSampler:
    """Batches of ``p`` distinct people with ``k`` photos each (indices into ``labels``).

    A person with fewer than ``k`` photos is sampled with replacement; one epoch is
    ``batches`` batches (default: enough to show each photo about once).

    >>> sampler = PKSampler(np.array([0, 0, 1, 1, 2, 2]), p=2, k=2, seed=0)
    >>> [len(batch) for batch in sampler]
    [4]
    """

    def __init__(self, labels: np.ndarray, *, p: int, k: int, batches: int | None = None, seed: int = 0) -> None:
        labels = np.asarray(labels)
        self.people = [np.nonzero(labels == person)[0] for person in np.unique(labels)]
        self.people = [indices for indices in self.people if len(indices) >= 2]
        if p < 2 or k < 2:
            raise ValueError(f"P x K batches need p >= 2 and k >= 2, got p={p}, k={k}")
        if len(self.people) < p:
            raise ValueError(f"only {len(self.people)} people have two or more photos; p={p} is too many")
        self.p, self.k = p, k
        self.batches = batches or max(1, len(labels) // (p * k))
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.batches

    def __iter__(self) -> Iterator[np.ndarray]:
        for _ in range(self.batches):
            chosen = self.rng.choice(len(self.people), size=self.p, replace=False)
            batch = [
                self.rng.choice(self.people[i], size=self.k, replace=len(self.people[i]) < self.k)
                for i in chosen
            ]
            yield np.concatenate(batch)
