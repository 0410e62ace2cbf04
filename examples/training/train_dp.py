"""Trainer story: DP-SGD with Opacus, using exactly the settings voxgate charged the ledger for.

Runs inside an admitted TrainingJob's worker. The operator injects the DP settings twice (env vars
VOXGATE_DP_* and /etc/voxgate/dp/settings.json); `load_dp_settings` refuses to start unless both
agree. The trainer must not pick its own noise, clipping norm, batch size or step count: the
epsilon charged to the dataset was computed from these, and training with less noise or more steps
would spend privacy nobody accounted for.

Needs torch and opacus in the trainer image (voxgate itself does not depend on them). The model
and data below are stand-ins: a real trainer reads the decrypted shards from the memory-backed
volume its job mounts and builds its own model.
"""

from __future__ import annotations

import sys

from voxgate.privacy.runtime import DPSettingsError, load_dp_settings

try:
    import torch
    from opacus import PrivacyEngine
    from torch.utils.data import DataLoader, TensorDataset
except ImportError:  # the example explains itself instead of failing with a traceback
    torch = None

EXAMPLES = 20_000  # stand-in corpus size (utterances)
FEATURES, CLASSES = 80, 32  # e.g. 80 log-mel bins, 32 output tokens


def main() -> int:
    if torch is None:
        print("train_dp.py needs torch and opacus in the trainer image", file=sys.stderr)
        return 2
    try:
        settings = load_dp_settings()
    except DPSettingsError as error:
        print(f"refusing to train: {error}", file=sys.stderr)
        return 2
    params = settings.params

    # Opacus's Poisson sampling draws each example with probability batch_size / len(dataset):
    # choose the batch size that gives the sample rate the ledger was charged for.
    inputs = torch.randn(EXAMPLES, FEATURES)
    targets = torch.randint(0, CLASSES, (EXAMPLES,))
    batch_size = max(1, round(params.sample_rate * EXAMPLES))
    if abs(batch_size / EXAMPLES - params.sample_rate) > 0.01 * params.sample_rate:
        print("dataset size cannot realise the charged sample rate; stopping", file=sys.stderr)
        return 2
    loader = DataLoader(TensorDataset(inputs, targets), batch_size=batch_size)

    model = torch.nn.Sequential(
        torch.nn.Linear(FEATURES, 256), torch.nn.ReLU(), torch.nn.Linear(256, CLASSES)
    )
    # Summed loss, averaged by the expected batch size through the learning rate: a Poisson batch
    # may be empty, and that step must still run (and add noise) like any other.
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1 / batch_size)
    engine = PrivacyEngine(accountant="rdp")
    model, optimizer, loader = engine.make_private(
        module=model,
        optimizer=optimizer,
        data_loader=loader,
        poisson_sampling=True,
        loss_reduction="sum",
        **settings.opacus_kwargs(),  # noise_multiplier and max_grad_norm, as charged
    )

    loss_fn = torch.nn.CrossEntropyLoss(reduction="sum")
    steps = 0
    while steps < params.steps:  # exactly the charged number of steps, never more
        for batch_inputs, batch_targets in loader:
            optimizer.zero_grad()
            loss_fn(model(batch_inputs), batch_targets).backward()
            optimizer.step()
            steps += 1
            if steps == params.steps:
                break

    # Opacus's own accountant as a cross-check; the ledger's figure is the one that counts.
    spent = engine.get_epsilon(params.delta)
    print(
        f"trained {steps} steps; Opacus reports epsilon {spent:.3f} at delta {params.delta:g}, "
        f"charged {settings.epsilon_budget:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
