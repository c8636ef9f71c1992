"""core.data.class_names: readable names, and the class counts in the files that the mapping rests on."""

from __future__ import annotations

from collections import Counter

import pytest

from core.data.class_names import KNOWN_CLASS_NAMES, readable_class_names


def test_known_numbers_get_words_unknown_ones_class_n_and_words_stay():
    assert readable_class_names("DD", ["1", "2"]) == ["enzyme (1)", "non-enzyme (2)"]
    assert readable_class_names("D&D", ["2"]) == ["non-enzyme (2)"]
    assert readable_class_names("MUTAG", ["-1", "1"]) == ["non-mutagenic (-1)", "mutagenic (1)"]
    assert readable_class_names("IMDB-BINARY", ["0", "1"]) == ["class 0", "class 1"]
    assert readable_class_names("synthetic-hierarchy", ["2 groups"]) == ["2 groups"]


@pytest.mark.parametrize("dataset, counts", [
    ("DD", {"1": 691, "2": 487}),         # Dobson & Doig 2003: 691 enzymes, 487 non-enzymes
    ("MUTAG", {"1": 125, "-1": 63}),      # Debnath et al. 1991: 125 mutagenic compounds
    ("ENZYMES", {str(c): 100 for c in range(1, 7)}),
])
def test_mapping_matches_the_class_counts_in_the_files(tu_dir, dataset, counts):
    path = tu_dir / dataset / f"{dataset}_graph_labels.txt"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    found = Counter(line.strip() for line in path.read_text().splitlines() if line.strip())
    assert dict(found) == counts
    assert set(KNOWN_CLASS_NAMES[dataset]) == set(counts)
