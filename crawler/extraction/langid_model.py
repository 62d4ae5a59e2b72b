"""py3langid's model, loaded from an uncompressed copy kept in a cache folder.

py3langid ships its model LZMA-compressed and decompresses it on every first use: 0.6 s of
CPU, which the extraction forkserver spends before any worker can start (the crawl waits for
it). The decompressed arrays, kept once as .npy files, load in a fraction of that; the
large ones are memory-mapped, so every process on the machine shares their pages.

Only an optimisation: whatever goes wrong (no cache folder, a damaged or foreign copy,
another py3langid), py3langid loads its model itself, as before.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from array import array
from pathlib import Path

logger = logging.getLogger(__name__)

_ARRAYS = ("ptc", "pc", "classes", "nextmove", "row", "output")
# classified by the cached model and by py3langid's own before a copy is trusted
_PROBES = ("Le commerce entre la Russie et la France a progressé cette année.",
           "Торговля между Россией и Францией выросла в этом году.",
           "Trade between Russia and France grew this year.")


def cache_dir() -> Path:
    """$NEWSARCHIVE_CACHE_DIR, else $XDG_CACHE_HOME/newsarchive, else ~/.cache/newsarchive."""
    explicit = os.environ.get("NEWSARCHIVE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "newsarchive"


def load() -> bool:
    """Make py3langid use the cached model, writing the cache first if it is missing.
    Returns whether the cache is in use."""
    folder = None
    try:
        import py3langid
        from py3langid import langid

        if langid.IDENTIFIER is not None:
            return False
        model = langid.MODEL_DIR / langid.MODEL_FILE
        stat = model.stat()
        folder = cache_dir() / f"py3langid-{getattr(py3langid, '__version__', 'x')}-{stat.st_size}-{stat.st_mtime_ns}"
        written, verified = (folder / "output.npy").exists(), (folder / "verified").exists()
        # py3langid's own model, loaded once: what the copy is written from and checked against
        reference = langid.LanguageIdentifier.from_model_file(model) if not (written and verified) else None
        if not written:
            _write(folder, reference)
        identifier = _read(folder)
        if reference is not None:
            if any(identifier.classify(p) != reference.classify(p) for p in _PROBES):
                raise ValueError(f"{folder} does not classify as py3langid's own model")
            (folder / "verified").touch()
        langid.IDENTIFIER = identifier
        return True
    except Exception as exc:  # an optimisation must never cost the extraction
        logger.debug("py3langid's model cache is not used: %s", exc)
        if folder is not None and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)  # damaged or foreign: written again next time
        return False


def _write(folder: Path, model) -> None:  # type: ignore[no-untyped-def]
    """Save the arrays of ``model`` (a LanguageIdentifier just loaded, all languages) as .npy files."""
    import numpy as np

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    try:
        np.save(tmp / "ptc.npy", np.asarray(model.nb_ptc))
        np.save(tmp / "pc.npy", np.asarray(model.nb_pc))
        np.save(tmp / "classes.npy", np.array(model.nb_classes))
        for name, values in (("nextmove", model.tk_nextmove), ("row", model.tk_row)):
            np.save(tmp / f"{name}.npy", np.frombuffer(values, dtype=f"={values.typecode}"))
        np.save(tmp / "output.npy", np.asarray(model.tk_output, dtype=np.int64))
        try:
            tmp.rename(folder)  # atomic: another process sees the whole copy or none
        except OSError:  # written meanwhile by another process
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _read(folder: Path):  # type: ignore[no-untyped-def]
    import numpy as np
    from py3langid.langid import LanguageIdentifier

    def typed(name: str) -> array:
        values = np.load(folder / f"{name}.npy", mmap_mode="r")
        out = array(values.dtype.char)  # py3langid walks these with Python indexing: plain arrays
        out.frombytes(memoryview(values).cast("B"))
        return out

    # read-only and shared; py3langid only indexes it. As a plain ndarray over the mapping: indexing an
    # np.memmap goes through its Python __getitem__ and __array_finalize__ (0.02 ms a classify)
    ptc = np.load(folder / "ptc.npy", mmap_mode="r").view(np.ndarray)
    pc = np.load(folder / "pc.npy")
    classes = np.load(folder / "classes.npy").tolist()
    output = np.load(folder / "output.npy").tolist()
    return LanguageIdentifier(ptc, pc, classes, typed("nextmove"), output, tk_row=typed("row"))
