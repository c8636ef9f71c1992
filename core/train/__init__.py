"""Training: one fit, stratified cross-validation with two reporting protocols, checkpoints, CLI.

Command line (``python -m core.train --help`` lists every option)::

    python -m core.train --dataset ENZYMES --model diffpool --folds 10 --epochs 100 --out runs/enzymes
    torchrun --nproc_per_node=2 -m core.train ...        # data-parallel (see core.train.distributed)

Protocol
--------
Stratified K-fold over graphs (shuffled, seeded). Inside each training fold ``val_fraction``
of the graphs (stratified) is held out for validation. Every epoch records train loss and
accuracy, validation accuracy and the held-out test fold's accuracy.

- **honest** (reported first): per fold, the test-fold accuracy at the epoch of best
  validation accuracy (ties go to the earlier epoch); mean ± std (population std, ``ddof=0``)
  over folds.
- **paper** (the reference code's ``benchmark_task_val``; optimistic): for every epoch the
  mean over folds of the test-fold accuracy, then the maximum over epochs. No model
  selection: the epoch is picked by looking at the test folds. Computed from the same runs.
  With ``protocol="paper"`` no validation set is held out (as in the reference code) and the
  model of the last epoch is kept.

Epoch 0 is the untrained model; epochs 1..E are trained. One checkpoint is written: the model
of fold 0 at its best-validation epoch, with the fold's test-graph indices in its card so the
test accuracy can be reproduced. Finished folds are cached as ``<out>/folds/fold-<k>.json``;
rerunning the same command skips them and rebuilds the summary.

Snapshots ("pooling as it is learned"): with ``snapshot_every = K > 0`` the eval-mode soft
assignments S of a few watched graphs are recorded at epoch 0, every K epochs and at the last
epoch, stored in the checkpoint as extra tensors ``snapshot/e{epoch:04d}/g{graph}/l{level}``
(float32 [n_l, C_l]) with metadata in the card's ``"snapshots"``. They show the model *at those
epochs*, while the checkpoint's weights are the best-validation model."""

from core.train.cli import (  # noqa: F401
    build_parser,
    main,
)
from core.train.crossval import (  # noqa: F401
    FOLD_CACHE_VERSION,
    checkpoint_stem,
    cross_validate,
    format_summary,
    train_single,
    writes_weights,
)
from core.train.loop import (  # noqa: F401
    FitResult,
    epoch_batches,
    evaluate_accuracy,
    fit,
    machine_info,
    train_step,
)
from core.train.protocols import (  # noqa: F401
    HONEST_TEXT,
    PAPER_TEXT,
    aggregate_protocols,
    select_epoch,
)
from core.train.resume import (  # noqa: F401
    FIT_STATE_VERSION,
    REPO_ROOT,
    RESULTS_DIR,
    delete_fit_state,
    fit_state_stem,
    resume_root,
)
from core.train.settings import (  # noqa: F401
    ADDED_LATER,
    BATCHINGS,
    FEATURE_CHOICES,
    PROTOCOLS,
    READOUTS,
    TrainingError,
    TrainSettings,
    cluster_counts_for,
    feature_spec_for,
    model_config_for,
)
from core.train.splits import (  # noqa: F401
    stratified_folds,
    stratified_holdout,
    stratified_subset,
)

__all__ = [
    "ADDED_LATER",
    "BATCHINGS",
    "FEATURE_CHOICES",
    "FIT_STATE_VERSION",
    "FOLD_CACHE_VERSION",
    "FitResult",
    "HONEST_TEXT",
    "PAPER_TEXT",
    "PROTOCOLS",
    "READOUTS",
    "REPO_ROOT",
    "RESULTS_DIR",
    "TrainSettings",
    "TrainingError",
    "aggregate_protocols",
    "build_parser",
    "checkpoint_stem",
    "cluster_counts_for",
    "cross_validate",
    "delete_fit_state",
    "epoch_batches",
    "evaluate_accuracy",
    "feature_spec_for",
    "fit",
    "fit_state_stem",
    "format_summary",
    "machine_info",
    "main",
    "model_config_for",
    "resume_root",
    "select_epoch",
    "stratified_folds",
    "stratified_holdout",
    "stratified_subset",
    "train_single",
    "train_step",
    "writes_weights",
]
