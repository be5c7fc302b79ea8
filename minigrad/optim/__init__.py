"""Optimisers and learning-rate schedules, with ``torch.optim``'s names and update rules.

::

    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    scheduler = optim.CosineAnnealingLR(optimizer, T_max=epochs, warmup_epochs=2)
    for epoch in range(epochs):
        for x, y in batches:
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
        scheduler.step()

The schedules are also reachable as ``optim.lr_scheduler.StepLR`` (PyTorch's path).
"""
from . import schedules
from . import schedules as lr_scheduler
from .optimizers import SGD, Adam, AdamW, Optimizer
from .schedules import CosineAnnealingLR, LRScheduler, OneCycleLR, ReduceLROnPlateau, StepLR

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "LRScheduler", "StepLR", "CosineAnnealingLR",
           "OneCycleLR", "ReduceLROnPlateau", "schedules", "lr_scheduler"]
