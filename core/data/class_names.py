"""Readable class names of the TU datasets, for display.

TU Dortmund files store a graph's class as a bare number; their READMEs describe the classes in
words but do not spell out which number is which. The mappings below follow from the class
counts in the files matching the counts the original papers give for each class:

- D&D (Dobson & Doig 2003): 691 enzymes, 487 non-enzymes → label 1 = enzyme, 2 = non-enzyme.
- PROTEINS (Borgwardt et al. 2005, built from D&D-style structures): 663 vs 450 graphs, the
  majority being enzymes as in the source data → 1 = enzyme, 2 = non-enzyme.
- MUTAG (Debnath et al. 1991): 125 mutagenic, 63 non-mutagenic compounds → 1 = mutagenic,
  -1 = non-mutagenic.
- ENZYMES: labels 1–6 are the EC top-level classes (1 oxidoreductases … 6 ligases).

Datasets not listed (IMDB-BINARY, COLLAB, REDDIT-MULTI-12K: the files do not say which genre,
field or subreddit a number stands for) get ``class <label>``; names that are already words (the
synthetic dataset's "2 groups") are kept. The original label stays in brackets, so a name never
hides which number it stands for.
"""

from __future__ import annotations

import re

#: dataset name (upper case) -> {original label as written in the files: readable name}
KNOWN_CLASS_NAMES: dict[str, dict[str, str]] = {
    "DD": {"1": "enzyme", "2": "non-enzyme"},
    "PROTEINS": {"1": "enzyme", "2": "non-enzyme"},
    "MUTAG": {"1": "mutagenic", "-1": "non-mutagenic"},
    "ENZYMES": {"1": "EC 1 oxidoreductase", "2": "EC 2 transferase", "3": "EC 3 hydrolase", "4": "EC 4 lyase",
                "5": "EC 5 isomerase", "6": "EC 6 ligase"},
}


#: A label written as a number (TU files use integers; "-1" in MUTAG).
_NUMERIC_LABEL = re.compile(r"[-+]?\d+(\.\d+)?")


def readable_class_names(dataset_name: str, raw_names: list[str]) -> list[str]:
    """Display names for a dataset's classes, index = class id.

    >>> readable_class_names("DD", ["1", "2"])
    ['enzyme (1)', 'non-enzyme (2)']
    >>> readable_class_names("IMDB-BINARY", ["0", "1"])
    ['class 0', 'class 1']
    >>> readable_class_names("synthetic-hierarchy", ["2 groups", "3 groups"])
    ['2 groups', '3 groups']
    """
    known = KNOWN_CLASS_NAMES.get(dataset_name.upper().replace("&", ""), {})
    names = []
    for raw in raw_names:
        raw = str(raw)
        if raw in known:
            names.append(f"{known[raw]} ({raw})")
        elif _NUMERIC_LABEL.fullmatch(raw):
            names.append(f"class {raw}")
        else:
            names.append(raw)
    return names
