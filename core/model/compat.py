"""Can this model run on that data? The one model–dataset compatibility check.

Every view that offers a model (the sidebar, Compare, Teaching, Upload) asks
:func:`check_compatibility` and shows its ``problem`` (the model cannot run) or ``warning`` (it
runs, but its output means less). The rules, in order:

1. ``need_pooling``: variants without pooling levels (graphsage, set2set, sortpool, ecc, baseline,
   patchysan) make no clusters to show.
2. No dataset (an uploaded graph): only structure-only features (``core.data.features.STRUCTURAL_KINDS``)
   can be built, since an arbitrary graph carries no node labels or attributes.
3. Another dataset: node label ids and attribute columns are each dataset's own coding (label 2 is
   an amino-acid type in D&D, a helix in PROTEINS), so a model reading them refuses other
   datasets even when the widths happen to match; a structure-only model runs, with a warning.
4. With a sample graph: the features must build and have the model's input width.
5. A different class count is a warning: predicted classes cannot be compared with true ones.

An ``ecc`` model trained with edge labels (``config.num_edge_types`` > 1, e.g. on MUTAG) reads
them like dataset-coded node features: it runs only on its own dataset, whose graphs carry them.

Example
-------
>>> check_compatibility({"variant": "diffpool", "features": {"kind": "degree"}}).ok
True
>>> check_compatibility({"variant": "graphsage", "features": {"kind": "degree"}}, need_pooling=True).problem
'graphsage variant: no pooling, so no clusters'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core.data.features import STRUCTURAL_KINDS, FeatureSpec
from core.model.config import NO_POOLING_VARIANTS

#: Variants that make no cluster assignments.
WITHOUT_POOLING = ("graphsage", *NO_POOLING_VARIANTS)

#: Feature kinds whose values are a dataset's own coding (meaningless on another dataset).
DATASET_CODED_KINDS = ("labels", "attributes", "labels+attributes")


@dataclass(frozen=True)
class Compatibility:
    """Outcome of :func:`check_compatibility`: ``problem`` set = the model cannot run."""

    problem: str | None = None
    warning: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _card_value(card: Mapping, key: str, default=None):
    try:
        value = card.get(key, default)
    except AttributeError:  # a card object without .get: read the attribute
        value = getattr(card, key, default)
    return default if value is None else value


def check_compatibility(
    card: Mapping,
    spec: FeatureSpec | None = None,
    dataset_name: str | None = None,
    sample_graph=None,
    num_classes: int | None = None,
    need_pooling: bool = False,
) -> Compatibility:
    """Whether the model described by ``card`` (a checkpoint's card) can run on some data.

    Args:
        card: the model card (``variant``, ``dataset``, ``features``, ``config`` read).
        spec: its feature spec; built from ``card["features"]`` when None.
        dataset_name: the data's dataset, or None for a graph that belongs to no dataset
            (uploaded, generated): then only structure-only features can be built.
        sample_graph: a :class:`core.data.graphs.Graph` of the data, to check that features build
            with the model's input width; skipped when None.
        num_classes: the data's class count, compared with the model's; skipped when None.
        need_pooling: refuse models without a pooling level (``NO_POOLING_VARIANTS``).
    """
    config = _card_value(card, "config", {}) or {}
    variant = str(_card_value(card, "variant", config.get("variant", "?")))
    if spec is None:
        try:
            described = dict(_card_value(card, "features", {}) or {})
            if "kind" not in described:
                raise KeyError("features.kind is missing")
            spec = FeatureSpec.from_dict(described)
        except (TypeError, ValueError, KeyError) as error:
            return Compatibility(problem=f"its card has no usable feature description ({error})")
    kind = spec.kind
    if need_pooling and variant in WITHOUT_POOLING:
        return Compatibility(problem=f"{variant} variant: no pooling, so no clusters")
    warning = None
    trained_on = _card_value(card, "dataset")
    edge_types = int(config.get("num_edge_types", 1) or 1)
    if edge_types > 1:
        if dataset_name is None:
            return Compatibility(problem=f"it reads edge labels ({edge_types} types), which an uploaded graph "
                                         "does not carry")
        if trained_on and str(trained_on).lower() != dataset_name.lower():
            return Compatibility(problem=f"it reads {trained_on}'s edge labels, which {dataset_name} lacks or "
                                         "codes differently")
        if sample_graph is not None and getattr(sample_graph, "edge_labels", None) is None:
            return Compatibility(problem=f"it reads edge labels ({edge_types} types), which this graph does not carry")
    if dataset_name is None:
        if kind not in STRUCTURAL_KINDS:
            return Compatibility(problem=f"needs '{kind}' node features, which an uploaded graph does not carry")
    elif trained_on and str(trained_on).lower() != dataset_name.lower():
        if kind in DATASET_CODED_KINDS:
            return Compatibility(problem=f"it reads {trained_on}'s node {kind.replace('+', ' and ')}, which "
                                         f"{dataset_name} codes differently")
        warning = f"This model was trained on **{trained_on}**, not {dataset_name}; its clusters may mean little here."
    if sample_graph is not None:
        try:
            width = spec.build(sample_graph).shape[1]
        except ValueError as error:
            return Compatibility(problem=str(error), warning=warning)
        expected = config.get("input_dim")
        if expected is not None and width != int(expected):
            where = dataset_name or "this graph"
            return Compatibility(problem=f"the model expects {expected} input features, {where} gives {width}",
                                 warning=warning)
    model_classes = config.get("num_classes")
    if num_classes is not None and model_classes is not None and int(model_classes) != int(num_classes):
        warning = (warning or "") + (
            f" The model predicts {model_classes} classes, {dataset_name or 'the data'} has {num_classes}: "
            "predicted classes are not comparable with true ones.")
    return Compatibility(warning=warning)
