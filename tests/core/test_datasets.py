"""TU reader, dataset lookup and download (file:// only: no test touches the network)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from core.data.datasets import (
    DatasetError,
    DatasetNotFoundError,
    TUFormatError,
    available_datasets,
    canonical_name,
    default_cache_dir,
    load_dataset,
    read_tu,
    resolve_data_dir,
    tu_url,
)


# ---------------------------------------------------------------------------- small generated TU sets
def write_tu(folder: Path, name: str = "TOY", **files: str) -> Path:
    """Write ``NAME_<kind>.txt`` for each keyword (kind -> text) into ``folder``; returns folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for kind, text in files.items():
        (folder / f"{name}_{kind}.txt").write_text(text)
    return folder


def toy_files(**overrides: str | None) -> dict[str, str]:
    """Two graphs: a triangle (nodes 1-3) with a self-loop on 3, and a path 4-5."""
    files = {
        "A": "1, 2\n2, 1\n2, 3\n3, 2\n1, 3\n3, 1\n3, 3\n4, 5\n5, 4\n",
        "graph_indicator": "1\n1\n1\n2\n2\n",
        "graph_labels": "-1\n1\n",
        "node_labels": "5\n7\n5\n9\n7\n",
        "node_attributes": "0.5, 1\n1.5, 2\n2.5, 3\n3.5, 4\n4.5, 5\n",
    }
    files.update(overrides)
    return {kind: text for kind, text in files.items() if text is not None}


@pytest.fixture
def toy_dir(tmp_path: Path) -> Path:
    return write_tu(tmp_path / "TOY", **toy_files())


def zip_folder(folder: Path, target: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for path in sorted(folder.glob("*.txt")):
            archive.write(path, prefix + path.name)
    return target


def assert_same_graphs(first, second) -> None:
    assert len(first) == len(second) and first.class_names == second.class_names
    assert first.num_node_labels == second.num_node_labels
    assert first.node_attribute_dim == second.node_attribute_dim
    for a, b in zip(first.graphs, second.graphs):
        assert a.num_nodes == b.num_nodes and a.label == b.label and a.name == b.name
        np.testing.assert_array_equal(a.edges, b.edges)
        np.testing.assert_array_equal(a.node_labels, b.node_labels)
        np.testing.assert_array_equal(a.node_attributes, b.node_attributes)


# ---------------------------------------------------------------------------- reading the toy set
def test_toy_graphs_are_split_symmetrised_and_keep_self_loops(toy_dir: Path):
    dataset = read_tu(toy_dir)
    assert dataset.name == "TOY" and len(dataset) == 2 and dataset.source == str(toy_dir)
    triangle, path = dataset.graphs
    assert triangle.edges.tolist() == [[0, 1], [1, 2], [0, 2], [2, 2]]
    assert path.edges.tolist() == [[0, 1]]
    assert triangle.name == "TOY #0" and path.name == "TOY #1"
    assert dataset.meta["a_lines"] == 9 and dataset.meta["self_loops"] == 1


def test_labels_map_to_sorted_indices_and_class_names_keep_originals(toy_dir: Path):
    dataset = read_tu(toy_dir)
    assert dataset.class_names == ["-1", "1"]
    assert dataset.labels.tolist() == [0, 1]
    assert dataset.num_node_labels == 3  # originals 5, 7, 9
    assert dataset[0].node_labels.tolist() == [0, 1, 0]
    assert dataset[1].node_labels.tolist() == [2, 1]
    assert dataset.node_attribute_dim == 2
    np.testing.assert_allclose(dataset[1].node_attributes, [[3.5, 4], [4.5, 5]])


def test_optional_files_may_be_absent(tmp_path: Path):
    folder = write_tu(tmp_path / "TOY", **toy_files(node_labels=None, node_attributes=None))
    dataset = read_tu(folder)
    assert dataset.num_node_labels == 0 and dataset.node_attribute_dim == 0
    assert dataset[0].node_labels is None and dataset[0].node_attributes is None


def test_crlf_and_trailing_blank_lines_are_accepted(tmp_path: Path):
    files = {kind: text.replace("\n", "\r\n") + "\r\n\r\n" for kind, text in toy_files().items()}
    assert_same_graphs(read_tu(write_tu(tmp_path / "TOY", **files)), read_tu(write_tu(tmp_path / "plain", **toy_files())))


def test_duplicate_lines_are_merged_and_noted(tmp_path: Path):
    folder = write_tu(tmp_path / "TOY", **toy_files(A="1, 2\n2, 1\n1, 2\n2, 1\n4, 5\n5, 4\n"))
    dataset = read_tu(folder)
    assert dataset[0].edges.tolist() == [[0, 1]]
    assert dataset[0].notes and "4 entries for 1 undirected edges" in dataset[0].notes[0]
    assert dataset[1].notes == []


def test_whitespace_separated_files_are_read(tmp_path: Path):
    files = {kind: text.replace(", ", "\t") for kind, text in toy_files().items()}
    assert_same_graphs(read_tu(write_tu(tmp_path / "TOY", **files)), read_tu(write_tu(tmp_path / "plain", **toy_files())))


def test_folder_holding_a_named_subfolder_is_read(toy_dir: Path):
    assert_same_graphs(read_tu(toy_dir.parent, name="TOY"), read_tu(toy_dir))


# ---------------------------------------------------------------------------- malformed files
@pytest.mark.parametrize(
    "overrides, file, line, words",
    [
        ({"A": "1, 2\n2, 1\n2, 6\n"}, "TOY_A.txt", 3, "out of range 1..5"),
        ({"A": "1, 2\n0, 1\n"}, "TOY_A.txt", 2, "out of range"),
        ({"A": "1, 2\n3, 4\n"}, "TOY_A.txt", 2, "joins graph 1 and graph 2"),
        ({"A": "1, 2\n2, x1\n"}, "TOY_A.txt", 2, "'x1' is not an integer"),
        ({"A": "1, 2\n2, 1.5\n"}, "TOY_A.txt", 2, "'1.5' is not an integer"),
        ({"A": "1, 2\n2, 1, 3\n3\n"}, "TOY_A.txt", 2, "3 value(s), expected 2"),
        ({"A": "1, 2\n\n2, 1\n"}, "TOY_A.txt", 2, "empty line"),
        ({"A": "1 2\n2 1 3\n3\n"}, "TOY_A.txt", 2, "3 value(s), expected 2"),
        ({"graph_indicator": "1\n1\n2\n1\n2\n"}, "TOY_graph_indicator.txt", 4, "contiguous"),
        ({"graph_indicator": "1\n1\n1\n3\n3\n"}, "TOY_graph_indicator.txt", 4, "without gaps"),
        ({"graph_indicator": "2\n2\n2\n3\n3\n"}, "TOY_graph_indicator.txt", 1, "ids start at 1"),
        ({"graph_indicator": "1\n1\none\n2\n2\n"}, "TOY_graph_indicator.txt", 3, "not an integer"),
        ({"graph_labels": "1\n"}, "TOY_graph_labels.txt", 2, "line 2 is missing"),
        ({"graph_labels": "1\n2\n1\n"}, "TOY_graph_labels.txt", 3, "one too many"),
        ({"node_labels": "1\n1\n1\n1\n"}, "TOY_node_labels.txt", 5, "4 lines but 5 expected"),
        ({"node_attributes": "1, 2\n1, 2\n1, 2\n1, 2\n1, 2\n1, 2\n"}, "TOY_node_attributes.txt", 6, "one too many"),
        ({"node_attributes": "1, 2\n1, 2\n1\n1, 2\n1, 2\n"}, "TOY_node_attributes.txt", 3, "expected 2"),
        ({"node_attributes": "1, 2\n1, 2\n1, nan?\n1, 2\n1, 2\n"}, "TOY_node_attributes.txt", 3, "not a number"),
    ],
)
def test_malformed_file_names_file_and_line(tmp_path: Path, overrides, file, line, words):
    folder = write_tu(tmp_path / "TOY", **toy_files(**overrides))
    with pytest.raises(TUFormatError) as caught:
        read_tu(folder)
    message = str(caught.value)
    assert file in message and f"line {line}" in message and words in message, message


@pytest.mark.parametrize("missing", ["A", "graph_indicator", "graph_labels"])
def test_missing_required_file_is_a_format_error(tmp_path: Path, missing: str):
    files = toy_files(**{missing: None})
    folder = write_tu(tmp_path / "TOY", **files)
    expected = "graph_indicator.txt" if missing == "graph_indicator" else f"TOY_{missing}.txt"
    with pytest.raises(TUFormatError, match=expected):
        read_tu(folder)


def test_missing_source_raises_not_found(tmp_path: Path):
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        read_tu(tmp_path / "nowhere")


def test_corrupt_zip_is_refused(tmp_path: Path):
    bad = tmp_path / "TOY.zip"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DatasetError, match="not a readable zip"):
        read_tu(bad)


# ---------------------------------------------------------------------------- zips
@pytest.mark.parametrize("prefix", ["", "TOY/"])
def test_toy_zip_equals_folder(toy_dir: Path, tmp_path: Path, prefix: str):
    archive = zip_folder(toy_dir, tmp_path / "TOY.zip", prefix)
    dataset = read_tu(archive)
    assert dataset.name == "TOY" and dataset.source == str(archive)
    assert_same_graphs(dataset, read_tu(toy_dir))


def test_zip_with_two_datasets_needs_a_name(tmp_path: Path):
    first = write_tu(tmp_path / "ONE", name="ONE", **toy_files())
    second = write_tu(tmp_path / "TWO", name="TWO", **toy_files(graph_labels="0\n0\n"))
    archive = tmp_path / "both.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for path in [*first.glob("*.txt"), *second.glob("*.txt")]:
            out.write(path, f"{path.parent.name}/{path.name}")
    with pytest.raises(DatasetError, match="several TU datasets.*ONE, TWO"):
        read_tu(archive)
    assert read_tu(archive, name="TWO").class_names == ["0"]


def test_zip_bomb_is_refused(tmp_path: Path):
    archive = tmp_path / "BOMB.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as out:
        out.writestr("BOMB_graph_indicator.txt", b"1\n" * 4_000_000)  # 8 MB, compresses to ~8 kB
        out.writestr("BOMB_graph_labels.txt", "1\n")
        out.writestr("BOMB_A.txt", "")
    assert archive.stat().st_size < 100_000
    with pytest.raises(DatasetError, match="BOMB_graph_indicator.txt inflates to more than max_bytes=1,000,000"):
        read_tu(archive, max_bytes=1_000_000)
    assert len(read_tu(archive)[0].edges) == 0  # the default cap lets it through


def test_corrupt_zip_member_is_a_dataset_error(toy_dir: Path, tmp_path: Path):
    archive = tmp_path / "TOY.zip"
    with zipfile.ZipFile(archive, "w") as out:  # stored, so the text is in the archive verbatim
        for path in sorted(toy_dir.glob("*.txt")):
            out.write(path, path.name)
    raw = archive.read_bytes()
    archive.write_bytes(raw.replace(b"1\n1\n1\n2\n2\n", b"1\n1\n1\n2\n3\n"))
    with pytest.raises(DatasetError, match="TOY_graph_indicator.txt cannot be unpacked"):
        read_tu(archive)


# ---------------------------------------------------------------------------- real TU data
def test_enzymes_matches_published_counts(tu_dir: Path):
    dataset = read_tu(tu_dir / "ENZYMES")
    assert len(dataset) == 600 and dataset.num_classes == 6
    assert sum(g.num_nodes for g in dataset.graphs) == 19_580
    assert dataset.meta["a_lines"] == 74_564
    # ENZYMES has no self-loops and lists each edge once per direction.
    assert dataset.meta["self_loops"] == 0
    assert sum(2 * g.num_edges for g in dataset.graphs) == 74_564
    assert dataset.num_node_labels == 3 and dataset.node_attribute_dim == 18
    assert dataset.max_nodes == 126
    assert dataset[12].name == "ENZYMES #12" and dataset.class_names == ["1", "2", "3", "4", "5", "6"]
    assert np.bincount(dataset.labels).tolist() == [100] * 6


def test_proteins_matches_published_counts(tu_dir: Path):
    dataset = read_tu(tu_dir / "PROTEINS")
    assert len(dataset) == 1_113 and dataset.num_classes == 2
    assert sum(g.num_nodes for g in dataset.graphs) == 43_471
    assert dataset.meta["a_lines"] == 162_088 and dataset.max_nodes == 620
    assert dataset.num_node_labels == 3 and dataset.node_attribute_dim == 1


def test_mutag_labels_minus_one_and_one_become_zero_and_one(tu_dir: Path):
    dataset = read_tu(tu_dir / "MUTAG")
    raw = np.loadtxt(tu_dir / "MUTAG" / "MUTAG_graph_labels.txt", dtype=np.int64)
    assert dataset.class_names == ["-1", "1"]
    assert dataset.labels.tolist() == ((raw + 1) // 2).tolist()
    assert len(dataset) == 188 and dataset.max_nodes == 28


def test_imdb_binary_duplicate_lines_are_deduplicated(tu_dir: Path):
    dataset = read_tu(tu_dir / "IMDB-BINARY")
    assert dataset.meta["a_lines"] == 386_124
    # The file lists every undirected edge twice in each direction (checked against the raw data).
    assert sum(g.num_edges for g in dataset.graphs) == 386_124 // 4
    assert dataset.class_names == ["0", "1"] and dataset.num_node_labels == 0
    assert all(g.notes for g in dataset.graphs)


def test_dd_loads_the_largest_graphs(tu_dir: Path):
    dataset = load_dataset("D&D", data_dir=tu_dir, download=False)
    assert dataset.name == "DD" and len(dataset) == 1_178
    assert sum(g.num_nodes for g in dataset.graphs) == 334_925
    assert dataset.max_nodes == 5_748 and dataset.meta["a_lines"] == 1_686_092
    assert dataset.num_node_labels == 82


def test_enzymes_zip_equals_folder(tu_dir: Path, tmp_path: Path):
    archive = zip_folder(tu_dir / "ENZYMES", tmp_path / "ENZYMES.zip", prefix="ENZYMES/")
    assert_same_graphs(read_tu(archive), read_tu(tu_dir / "ENZYMES"))


# ---------------------------------------------------------------------------- finding and downloading
def test_data_dir_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("DIFFPOOL_DATA", raising=False)
    monkeypatch.setenv("DIFFPOOL_CACHE", str(tmp_path / "cache"))
    assert default_cache_dir() == tmp_path / "cache" / "TU"
    assert resolve_data_dir() == tmp_path / "cache" / "TU"
    monkeypatch.setenv("DIFFPOOL_DATA", str(tmp_path / "env"))
    assert resolve_data_dir() == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "explicit") == tmp_path / "explicit"


def test_default_cache_is_under_home(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("DIFFPOOL_CACHE", raising=False)
    assert default_cache_dir() == Path("~/.cache/diffpool-explorer/TU").expanduser()


def test_load_dataset_finds_folder_via_env_and_zip_via_argument(tu_dir: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("DIFFPOOL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DIFFPOOL_DATA", str(tu_dir))
    assert len(load_dataset("mutag", download=False)) == 188
    zips = tmp_path / "zips"
    zips.mkdir()
    zip_folder(tu_dir / "MUTAG", zips / "MUTAG.zip")
    dataset = load_dataset("MUTAG", data_dir=zips, download=False)
    assert dataset.source == str(zips / "MUTAG.zip") and len(dataset) == 188


def test_not_found_names_folder_zip_and_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DIFFPOOL_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DatasetNotFoundError) as caught:
        load_dataset("ENZYMES", data_dir=tmp_path / "data", download=False)
    message = str(caught.value)
    assert str(tmp_path / "data" / "ENZYMES") + "/" in message
    assert str(tmp_path / "data" / "ENZYMES.zip") in message
    assert tu_url("ENZYMES") == "https://www.chrsmrrs.com/graphkerneldatasets/ENZYMES.zip"
    assert tu_url("ENZYMES") in message
    assert message.endswith("; or call with download=True")  # the Python API's way to fetch it


def test_download_lands_in_cache_once_and_loads(toy_dir: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("DIFFPOOL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("DIFFPOOL_DATA", raising=False)
    remote = zip_folder(toy_dir, tmp_path / "remote.zip", prefix="TOY/")
    dataset = load_dataset("TOY", data_dir=tmp_path / "empty", url=remote.as_uri(), progress=False)
    cached = tmp_path / "cache" / "TU" / "TOY.zip"
    assert cached.is_file() and dataset.source == str(cached)
    assert [p.name for p in cached.parent.iterdir()] == ["TOY.zip"]  # no temp file left behind
    assert_same_graphs(dataset, read_tu(toy_dir))
    remote.unlink()  # a second load must come from the cache, not the URL
    assert len(load_dataset("TOY", data_dir=tmp_path / "empty", url=remote.as_uri(), progress=False)) == 2


def test_failed_download_leaves_nothing_and_says_where_to_put_the_file(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("DIFFPOOL_CACHE", str(tmp_path / "cache"))
    not_a_zip = tmp_path / "page.html"
    not_a_zip.write_text("<html>moved</html>")
    for url in [not_a_zip.as_uri(), (tmp_path / "absent.zip").as_uri()]:
        with pytest.raises(DatasetError, match="TOY.zip"):
            load_dataset("TOY", data_dir=tmp_path / "empty", url=url, progress=False)
    assert list((tmp_path / "cache" / "TU").iterdir()) == []


def test_unknown_name_without_url_is_not_downloaded(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("DIFFPOOL_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DatasetNotFoundError, match="unknown dataset 'NOPE'"):
        load_dataset("NOPE", data_dir=tmp_path)


def test_available_datasets_lists_local_known_ones(tu_dir: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("DIFFPOOL_CACHE", str(tmp_path / "cache"))
    assert available_datasets(tmp_path / "empty") == []
    assert set(available_datasets(tu_dir)) == {"ENZYMES", "PROTEINS", "DD", "MUTAG", "IMDB-BINARY"}


def test_aliases_and_case():
    assert canonical_name("D&D") == "DD" and canonical_name("imdb-binary") == "IMDB-BINARY"


def test_synthetic_name_loads_generated_dataset():
    dataset = load_dataset("synthetic-hierarchy")
    assert dataset.name == "synthetic-hierarchy" and len(dataset) == 300
