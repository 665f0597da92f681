"""The run folder: atomic writes, checkpoints and the per-epoch metrics log.

Layout of DIR: config.yaml, noisy_labels.npy, metrics.jsonl, checkpoint.pt, summary.json,
label_issues.csv, pred_probs.npy, features.npy, count_probs.npy (TCL), margins.npy (CE and the robust
losses) and plots/*.png. Every file is written to a temporary name and renamed, so a
kill at any moment leaves either the old or the new file, never half of one.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import torch
import yaml

from .distributed import is_main
from .data._text import shown
from .errors import UserError
from .safeload import UnsafePickle, load_npy, torch_load

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
CONFIG = "config.yaml"
DETECT_CONFIG = "detect.yaml"  # a `detect --dataset` folder: the options that rebuild its samples
NOISY_LABELS = "noisy_labels.npy"
LABEL_ISSUES = "label_issues.csv"
PRED_PROBS = "pred_probs.npy"
FEATURES = "features.npy"
COUNT_PROBS = "count_probs.npy"  # TCL: the probabilities whose anchors count the flags (labelquality.agreed_probs)
MARGINS = "margins.npy"  # AUM: the mean logit margin of each given label from epoch 2 on (CE and the robust losses)
SKIPPED_IMAGES = "skipped_images.txt"
PASSED_OVER = "passed_over.txt"  # files in a folder source's class folders that are not images by name
PLOTS = "plots"
_WRITE_DELAY = float(os.environ.get("NOISYLABELS_TEST_WRITE_DELAY") or 0)  # test hook, see atomic_write_bytes
MODEL = "model.pt2"  # the exported classifier (noisylabels.export)
_RUN_FILES = (CHECKPOINT, METRICS, SUMMARY, CONFIG, NOISY_LABELS, LABEL_ISSUES, PRED_PROBS, FEATURES, COUNT_PROBS,
              MARGINS, SKIPPED_IMAGES, PASSED_OVER, MODEL)


def _process_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_process_umask()  # what open() would give: mkstemp's files are 0600


def strict_json(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, inf: undefined figures) as None, so that the JSON
    written is standard (json.dumps would write NaN, which JSON does not have)."""
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, np.floating):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    return obj


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder + fsync + rename.

    In a data-parallel job only rank 0 writes; the other ranks' writes are no-ops. Test hook: the
    environment variable NOISYLABELS_TEST_WRITE_DELAY (seconds) pauses between the fsync and the rename,
    so that tests/app/test_kill_loop.py can SIGKILL a run while a temporary file exists.
    """
    if not is_main():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if _WRITE_DELAY:
            time.sleep(_WRITE_DELAY)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


MAX_YAML_BYTES = 1 << 20  # a configuration is a page of options; larger files are something else
MAX_YAML_DEPTH = 32  # a configuration is a mapping of options (and method_options): two levels deep


class NumberLoader(yaml.SafeLoader):
    """PyYAML's safe loader with the plain numbers that people and Python write, and no others: decimal
    integers ('17', '-3', '1_000'), 0x and 0b integers and decimal floats ('0.5', '.5', '1.5e3', '.inf').
    YAML 1.1's octal and base-60 forms are text here, so that ``epochs: 017`` is not 15 and ``epochs: 1:30``
    not 90 (the checks of :mod:`noisylabels.config` then read the text as a number or refuse it); so are
    misplaced underscores ('1__0', '1_')."""


_INT_TAG, _FLOAT_TAG = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
_DIGITS = r"[0-9](?:_?[0-9])*"
NumberLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_INT_TAG, _FLOAT_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
NumberLoader.add_implicit_resolver(
    _INT_TAG, re.compile(r"^[-+]?(?:0|[1-9](?:_?[0-9])*|0b(?:_?[01])+|0x(?:_?[0-9a-fA-F])+)$"), list("-+0123456789"))
NumberLoader.add_implicit_resolver(
    _FLOAT_TAG, re.compile(rf"^(?:[-+]?(?:{_DIGITS}\.(?:{_DIGITS})?|\.{_DIGITS})(?:[eE][-+]?[0-9]+)?"
                           r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"), list("-+0123456789."))


def load_yaml_file(path: Path, what: str) -> Any:
    """The YAML document in ``path`` (``what`` names it in errors): UserError, one line, for a missing,
    binary or oversized file, a YAML error, a number of thousands of digits, nesting deeper than
    ``MAX_YAML_DEPTH``, or anchors and aliases (which let a small file expand into an unbounded structure;
    a configuration has no use for them). Plain numbers are read as :class:`NumberLoader` reads them."""
    try:
        raw = Path(path).read_bytes()[:MAX_YAML_BYTES + 1]
    except FileNotFoundError:
        raise UserError(f"{what}: file {shown(path)} not found") from None
    except OSError as e:
        raise UserError(f"{what}: cannot read {shown(path)} ({e.strerror or type(e).__name__})") from None
    if len(raw) > MAX_YAML_BYTES:
        raise UserError(f"{what}: {shown(path)} is over {MAX_YAML_BYTES >> 20} MB; a configuration is a short YAML "
                        "mapping")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{what}: {shown(path)} is not a UTF-8 text file; give a YAML mapping of option: "
                        "value") from None
    try:
        _check_structure(text, path, what)
        return yaml.load(text, Loader=NumberLoader)  # noqa: S506 - a SafeLoader
    except UserError:
        raise
    except yaml.YAMLError as e:
        raise UserError(f"{what}: cannot read {shown(path)}: {str(e).splitlines()[0]}") from None
    except ValueError:  # an integer of more than Python's 4300 digits
        raise UserError(f"{what}: {shown(path)} holds a number of thousands of digits; write the value out as a "
                        "short number") from None


def _check_structure(text: str, path: Path, what: str) -> None:
    """UserError for YAML aliases and for lists or mappings nested deeper than ``MAX_YAML_DEPTH``, found
    while parsing (the parse stops there: a file of deep nesting is never read to its end)."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            raise UserError(f"{what}: {shown(path)} uses YAML aliases (*name); write the values out")
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise UserError(f"{what}: {shown(path)} nests lists or mappings more than {MAX_YAML_DEPTH} deep; a "
                                "configuration is a mapping of option: value")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


@contextlib.contextmanager
def writer_lock(path: str | Path) -> Iterator[None]:
    """Hold the one-writer lock of the run folder ``path`` inside (an exclusive ``flock`` on a file named by
    the folder's resolved path in the system's temporary folder, so that a refused command writes nothing
    into the user's tree); a second process that asks for it while held gets a UserError. Released when
    the process ends, however it ends. No-op where ``fcntl`` is missing and on ranks other than 0."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    if not is_main():
        yield
        return
    key = hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:32]
    folder = Path(tempfile.gettempdir()) / "noisylabels-locks"
    folder.mkdir(exist_ok=True)
    with open(folder / f"{key}.lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"--out {shown(path)}: another noisylabels process is writing there; wait for it to finish "
                            "or choose another --out") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def labels_sha256(labels: np.ndarray) -> str:
    """SHA-256 of the labels as little-endian int64 bytes (stable across platforms)."""
    return hashlib.sha256(np.asarray(labels, dtype="<i8").tobytes()).hexdigest()


def sub_state(state: Mapping[str, Any], *prefixes: str) -> dict[str, Any]:
    """The entries of a checkpoint's state dict under any of ``prefixes`` (e.g. ``"encoder."``,
    ``"model.encoder."``), keyed without the prefix: one submodule's weights, ready for its
    ``load_state_dict``. Empty when no key has one of the prefixes."""
    out: dict[str, Any] = {}
    for key, value in state.items():
        prefix = next((p for p in prefixes if key.startswith(p)), None)
        if prefix is not None:
            out[key[len(prefix):]] = value
    return out


MAX_NAME_BYTES = 255  # one file or folder name (Linux, macOS, Windows file systems)


def move_files(files: list[Path], src: Path, dst: Path) -> None:
    """Move each of ``files`` (under ``src``) to the same relative path under ``dst`` (folders made as needed;
    an existing file there replaced)."""
    for f in files:
        dest = dst / f.relative_to(src)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(f, dest)


@contextlib.contextmanager
def staged(folder: str | Path, replaces: tuple[str, ...] = ()) -> Iterator["RunFolder"]:
    """A hidden folder inside ``folder`` to write one set of outputs into. When the block ends without an error,
    each file it holds moves over its namesake in ``folder`` and the ``replaces`` names it does not hold (an
    earlier set's files that this one has no counterpart of) are removed; when the block fails, ``folder`` is
    left as it was (a folder this made is removed again). Only rank 0 of a data-parallel job should stage."""
    folder = Path(folder)
    made = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".staged-", dir=folder))
    try:
        yield RunFolder(stage)
        files = sorted(p for p in stage.rglob("*") if p.is_file())
        held = {f.relative_to(stage).as_posix() for f in files}
        for name in replaces:
            if name not in held:
                (folder / name).unlink(missing_ok=True)
        move_files(files, stage, folder)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if made and not any(folder.iterdir()):
            folder.rmdir()


class RunFolder:
    """The output folder of one run."""

    def __init__(self, path: str | Path) -> None:
        self.given = str(path)  # as the user wrote it: '' is no folder (Path('') would be the current one)
        self.path = Path(path)

    def holds_run(self) -> bool:
        return self.path.is_dir() and any((self.path / f).exists() for f in _RUN_FILES)

    def check_writable(self, *, resume: bool, overwrite: bool) -> None:
        """Refuse to mix two runs in one folder, and --out paths that name no folder (empty, a file, a name
        the file system cannot hold). Raises UserError; writes nothing."""
        if not self.given.strip():
            raise UserError(f"--out {self.given!r} is empty; give a folder path (use '.' for the current folder)")
        try:
            self._check_writable(resume=resume, overwrite=overwrite)
        except OSError as e:  # a name too long for the file system, a folder that cannot be searched, ...
            raise UserError(f"--out {shown(self.path)}: {e.strerror or type(e).__name__}; give another folder "
                            "path") from None

    def _check_writable(self, *, resume: bool, overwrite: bool) -> None:
        """The checks of :meth:`check_writable` (OSError where the file system refuses a look-up)."""
        parts = self.path.parts
        long_name = next((part for part in parts if len(os.fsencode(part)) > MAX_NAME_BYTES), None)
        if long_name is not None:  # before a folder on the way is made
            raise UserError(f"--out {shown(self.path)}: the name {shown(long_name[:40])}... is longer than the "
                            f"{MAX_NAME_BYTES} bytes a file system allows; give a shorter folder name")
        for i, part in enumerate(parts):  # 'new/../old' is 'old' only once 'new' exists: refused, not mixed in
            if part == ".." and not Path(*parts[:i]).is_dir():
                raise UserError(f"--out {shown(self.path)}: '..' follows {shown(Path(*parts[:i]))}, which is no folder "
                                "(yet); write the folder's path without '..'")
        if self.path.exists() and not self.path.is_dir():
            raise UserError(f"--out {shown(self.path)} is a file; give a folder path")
        blocker = next((p for p in self.path.parents if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            raise UserError(f"--out {shown(self.path)}: {shown(blocker)} is a file, not a folder; give a folder path")
        if resume:
            if not (self.path / CONFIG).exists():
                raise UserError(f"--resume: no run in {shown(self.path)} (no {CONFIG}); drop --resume to start a new "
                                "run there")
            return
        if self.holds_run() and not overwrite:
            raise UserError(
                f"{shown(self.path)} already holds a run; pass --resume to continue it, --overwrite to replace it, "
                "or choose another --out"
            )

    def remove_stale_temporaries(self) -> None:
        """Delete the temporary files of writes that a kill cut off (``.NAME.*.tmp`` in the run folder and its
        sub-folders; never read)."""
        if is_main():
            for tmp in self.path.rglob(".*.tmp"):
                tmp.unlink(missing_ok=True)

    def outputs(self) -> list[Path]:
        """The files of an earlier run in this folder (those --overwrite replaces): the run's own files, its plots,
        ``noisylabels review``'s page, the framework's per-phase folders and ``detect --run``'s default folder."""
        files = [self.path / name for name in _RUN_FILES]
        files += sorted((self.path / PLOTS).glob("*.png")) if (self.path / PLOTS).is_dir() else []
        review = self.path / "review"  # `noisylabels review`'s page of the old run's suspects
        if (review / "data.js").is_file():
            files += [review / "index.html", review / "data.js", *sorted(review.glob("thumbs/sheet-*.png"))]
        for phase in sorted(self.path.glob("phase-*")):  # the framework's per-phase folders
            if phase.is_dir():
                files += RunFolder(phase).outputs()
        detect = self.path / "detect"  # `detect --run`'s default folder: the old run's label issues
        if (detect / LABEL_ISSUES).is_file():
            files += [*RunFolder(detect).outputs(), detect / DETECT_CONFIG, detect / "suspects.png"]
        return [f for f in files if f.is_file()]

    def clear(self) -> None:
        """Remove the files of an earlier run (:meth:`outputs`). In a data-parallel job only rank 0 removes (as
        only rank 0 writes)."""
        if is_main():
            for f in self.outputs():
                f.unlink(missing_ok=True)

    def set_aside(self) -> Path | None:
        """Move the files of an earlier run (:meth:`outputs`) into a hidden folder of this one, keeping their
        relative paths, so that a replacement that fails can put them back (:meth:`put_back`); returns that
        folder (None on the ranks that do not write, or where there was nothing to move)."""
        files = self.outputs() if is_main() else []
        if not files:
            return None
        aside = Path(tempfile.mkdtemp(prefix=".replaced-", dir=self.path))
        move_files(files, self.path, aside)
        return aside

    def put_back(self, aside: Path) -> None:
        """Remove what a failed replacement wrote (:meth:`clear`) and move the earlier run's files back from
        ``aside`` (:meth:`set_aside`), which is then deleted."""
        self.clear()
        move_files(sorted(p for p in aside.rglob("*") if p.is_file()), aside, self.path)
        shutil.rmtree(aside, ignore_errors=True)

    def write_json(self, name: str, obj: Any) -> None:
        text = json.dumps(strict_json(obj), indent=2, sort_keys=True, allow_nan=False)
        atomic_write_bytes(self.path / name, (text + "\n").encode())

    def write_text(self, name: str, text: str) -> None:
        atomic_write_bytes(self.path / name, text.encode())

    def write_yaml(self, name: str, obj: Any) -> None:
        atomic_write_bytes(self.path / name, yaml.safe_dump(obj, sort_keys=False).encode())

    def write_bytes(self, name: str, data: bytes) -> None:
        atomic_write_bytes(self.path / name, data)

    def write_npy(self, name: str, arr: np.ndarray) -> None:
        buf = io.BytesIO()
        np.save(buf, arr)
        atomic_write_bytes(self.path / name, buf.getvalue())

    def read_npy(self, name: str) -> np.ndarray:
        """The one array of a .npy file of the folder (:func:`~noisylabels.safeload.load_npy`: no pickled
        objects, header checked against the file); UserError naming the file when it is damaged or unreadable."""
        path = self.path / name
        try:
            return load_npy(path)
        except (OSError, ValueError) as e:
            detail = (str(e).splitlines() or [type(e).__name__])[0]
            raise UserError(f"{shown(path)} is damaged ({shown(detail[:120])}); train the run again or restore "
                            "the file") from None

    def read_json(self, name: str) -> dict:
        """A JSON object file of the folder; UserError when it is damaged (not UTF-8 JSON of an object)."""
        path = self.path / name
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError):
            obj = None
        if not isinstance(obj, dict):
            raise UserError(f"{path} is damaged (not a JSON object); train the run again or restore the file")
        return obj

    def read_yaml(self, name: str) -> dict:
        """A YAML file of the folder (:func:`load_yaml_file`); {} when empty."""
        return load_yaml_file(self.path / name, str(self.path / name)) or {}

    # metrics.jsonl -----------------------------------------------------------------------------
    def read_metrics(self) -> list[dict]:
        path = self.path / METRICS
        if not path.exists():
            return []
        rows = []
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a torn last line from a kill: drop it
        return rows

    def write_metrics(self, rows: list[dict]) -> None:
        """Rewrite metrics.jsonl atomically (small: one line per epoch)."""
        text = "".join(json.dumps(strict_json(r), sort_keys=True, allow_nan=False) + "\n" for r in rows)
        atomic_write_bytes(self.path / METRICS, text.encode())

    # checkpoints ---------------------------------------------------------------------------------
    def has_checkpoint(self) -> bool:
        return (self.path / CHECKPOINT).exists()

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        """Serialise ``state`` and write it atomically; rank 0 alone (the other ranks' writes are no-ops, so
        they skip the serialisation too)."""
        if not is_main():
            return
        buf = io.BytesIO()
        torch.save(state, buf)
        atomic_write_bytes(self.path / CHECKPOINT, buf.getvalue())

    def load_checkpoint(self, map_location: str | torch.device = "cpu") -> dict[str, Any]:
        path = self.path / CHECKPOINT
        try:
            return torch_load(path, map_location=map_location)
        except UnsafePickle as e:
            raise UserError(f"checkpoint {shown(path)} holds pickled objects other than tensors and arrays ({e}), "
                            "which could run code; refused: start again with --overwrite") from None
        except Exception as e:  # a corrupt file is a user-facing problem, not a crash
            raise UserError(f"cannot read checkpoint {shown(path)} ({type(e).__name__}); start again with "
                            "--overwrite") from None
