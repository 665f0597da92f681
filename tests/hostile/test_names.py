"""Class names from every source that names classes, property-based: the label column of a ``csv:`` list,
the sub-folders of a ``folder:`` source and an npz's ``class_names`` (text or bytes). Names are any text:
whitespace, control characters and line breaks of every kind, other scripts' digits, names that look
alike (``strategies.NAMES``, ``strategies.look_alike``).

The property: the source is refused with one line (a UserError), or every sample's class name is exactly
the name its row, folder or array gave (a CSV cell without its surrounding whitespace; whole numbers as
class indices): no two names merged, no name split in two, no label moved to another sample. Two
spellings that a reader takes for one name (case, Unicode normal forms, invisible characters) are never
two classes."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from noisylabels.data.files import list_csv, list_folder
from noisylabels.data.sources import load_npz
from noisylabels.errors import UserError
from tests.hostile.strategies import FS_NAMES, NAMES, PROPERTY, fresh, look_alike, refused


def _is_int(text: str) -> bool:
    body = text[1:] if text.startswith("-") else text
    return body.isascii() and body.isdigit()


def _csv_source(tmp_path: Path, labels: list[str]) -> str:
    """A csv: list of one (empty) image file a row, labelled ``labels`` in order; returns the CSV's path."""
    (tmp_path / "img").mkdir(exist_ok=True)
    rows = []
    for k, label in enumerate(labels):
        (tmp_path / "img" / f"{k}.png").write_bytes(b"")
        rows.append([f"img/{k}.png", label])
    with open(tmp_path / "list.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["path", "label"], *rows])
    return str(tmp_path / "list.csv")


def check_csv_names(tmp_path: Path, labels: list[str]) -> None:
    """Refused, or row k is image k and its class is its cell's name (stripped; an index where every cell
    is a whole number)."""
    no, got = refused(lambda: list_csv(_csv_source(tmp_path, labels)))
    if no:
        return
    indices = all(_is_int(x.strip()) for x in labels)
    meant = [str(int(x)) if indices else x.strip() for x in labels]
    assert [p.name for p in got.paths] == [f"{k}.png" for k in range(len(labels))]
    assert [got.class_names[y] for y in got.labels] == meant
    assert len(set(got.class_names)) == len(got.class_names)


@PROPERTY
@given(names=st.lists(NAMES, min_size=1, max_size=4), picks=st.lists(st.integers(0, 3), max_size=6))
def test_class_names_of_a_csv_label_column(tmp_path, names, picks):
    check_csv_names(tmp_path, names + [names[i % len(names)] for i in picks])


@PROPERTY
@given(name=NAMES, how=st.integers(0, 4), other=NAMES)
def test_look_alike_names_in_a_csv_are_never_two_classes(tmp_path, name, how, other):
    twin = look_alike(name, how)
    labels = [name, twin, other] * 2
    no, got = refused(lambda: list_csv(_csv_source(tmp_path, labels)))
    if not no:
        assert got.labels[0] == got.labels[1], (name, twin)


def _folder_source(root: Path, names: list[str], empty: tuple[str, ...] = ()) -> None:
    """One sub-folder a name under ``root``, each with an (empty) image file but those in ``empty``."""
    for k, name in enumerate(names):
        (root / name).mkdir(parents=True)
        if name not in empty:
            (root / name / f"{k}.png").write_bytes(b"")


@PROPERTY
@given(names=st.lists(FS_NAMES, min_size=1, max_size=4, unique=True), without_images=st.integers(0, 4))
def test_class_names_of_folders(tmp_path, names, without_images):
    """Refused, or the classes are the folders (hidden ones, '.name', left out as ever), each image under
    its own folder's name; a class folder without images is refused."""
    root = fresh(tmp_path) / "data"
    empty = tuple(names[without_images:without_images + 1])
    _folder_source(root, names, empty)
    no, got = refused(lambda: list_folder(str(root)))
    if no:
        return
    assert not [n for n in empty if not n.startswith(".")], empty
    visible = sorted(n for n in names if not n.startswith(".") and n not in empty)
    assert got.class_names == visible and len(got.paths) == len(visible)  # one image a folder
    for path, label in zip(got.paths, got.labels):
        assert path.relative_to(root).parts[0] == got.class_names[label]


@PROPERTY
@given(name=FS_NAMES, how=st.integers(0, 4))
def test_look_alike_folders_are_never_two_classes(tmp_path, name, how):
    twin = look_alike(name, how)
    assume(twin != name and not name.startswith(".") and not twin.startswith(".") and len(twin.encode()) <= 255)
    root = fresh(tmp_path) / "data"
    _folder_source(root, [name, twin])
    no, got = refused(lambda: list_folder(str(root)))
    assert no, (name, twin, got.class_names)


NPZ_NAMES = st.one_of(st.lists(NAMES, min_size=2, max_size=4).map(np.array),
                      st.lists(NAMES, min_size=2, max_size=4).map(lambda ns: np.array([n.encode() for n in ns])),
                      st.lists(st.binary(min_size=1, max_size=6), min_size=2, max_size=4).map(np.array))


def _as_text(value: object) -> str | None:
    """A stored name as text (bytes as UTF-8); None for bytes that are no UTF-8."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return str(value)


@PROPERTY
@given(names=NPZ_NAMES, extra=st.integers(0, 1))
def test_class_names_of_an_npz(tmp_path, names, extra):
    """Refused, or class i is named exactly ``class_names[i]`` (bytes read as UTF-8 text), for every sample."""
    count = len(names) - extra  # a trailing name without samples is allowed by the array, not by a run
    labels = np.arange(count).repeat(2)
    np.savez(tmp_path / "d.npz", images=np.zeros((len(labels), 4, 4), np.uint8), labels=labels, class_names=names)
    no, got = refused(lambda: load_npz(str(tmp_path / "d.npz")))
    if no:
        return
    stored = [_as_text(v) for v in names.tolist()]  # numpy drops trailing NULs: the array's names are these
    assert got[0].class_names == stored
    assert [got[0].class_names[y] for y in got[0].labels] == [stored[y] for y in labels]


@PROPERTY
@given(name=NAMES, how=st.integers(0, 4))
def test_look_alike_names_in_an_npz_are_never_two_classes(tmp_path, name, how):
    twin = look_alike(name, how)
    assume(twin != name)
    np.savez(tmp_path / "d.npz", images=np.zeros((4, 4, 4), np.uint8), labels=np.array([0, 0, 1, 1]),
             class_names=np.array([name, twin]))
    stored = np.load(tmp_path / "d.npz")["class_names"].tolist()
    assume(stored[0] != stored[1])  # numpy's own trailing-NUL rule made them one
    no, got = refused(lambda: load_npz(str(tmp_path / "d.npz")))
    assert no, (name, twin)


def test_an_empty_class_name_is_refused_where_the_data_names_its_classes(tmp_path):
    """A class named '' (or spaces alone) trains, but no labels file or review decision can name it: refused
    when the data is read, not when its review comes back."""
    for blank in ("", "  ", "\t"):
        path = tmp_path / f"d{len(blank)}.npz"
        np.savez(path, images=np.zeros((6, 8, 8), np.uint8), labels=np.arange(6) % 3,
                 class_names=np.array([blank, "b", "c"]))
        with pytest.raises(UserError, match="empty name"):
            load_npz(str(path))
