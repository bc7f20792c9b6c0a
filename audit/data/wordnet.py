"""WordNet 3.0 for nltk, offline: find a copy, or install one from Debian's `wordnet-base`.

Why this exists: nltk's downloader needs the network. Debian's `wordnet-base` package ships the
same WordNet 3.0 database files under /usr/share/wordnet; nltk reads them once they sit in
`NLTK_DATA/corpora/wordnet` next to a `lexnames` file (which Debian ships only as a man page).
`install_wordnet` makes that folder under the project cache (`CACHE/nltk_data`); the prepare step
calls it once and the robustness suite calls it again at run time (a no-op when it exists).
`load_wordnet` returns an nltk WordNetCorpusReader, or None when no copy can be found, so the
caller can fall back to something else and say so.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEBIAN_WORDNET_DIR = Path("/usr/share/wordnet")
NLTK_SUBDIR = "nltk_data"
CORPUS_SUBPATH = Path("corpora") / "wordnet"
POS_FILES = ("adj", "adv", "noun", "verb")
REQUIRED_FILES = tuple(f"{kind}.{pos}" for kind in ("data", "index") for pos in POS_FILES) + \
    tuple(f"{pos}.exc" for pos in POS_FILES)
OPTIONAL_FILES = ("cntlist.rev",)
LEXNAMES_FILE = "lexnames"
# WordNet 3.0's 45 lexicographer files (lexnames(5WN)): number, name, syntactic category.
LEXNAMES = (
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact",
    "noun.attribute", "noun.body", "noun.cognition", "noun.communication", "noun.event", "noun.feeling",
    "noun.food", "noun.group", "noun.location", "noun.motive", "noun.object", "noun.person",
    "noun.phenomenon", "noun.plant", "noun.possession", "noun.process", "noun.quantity", "noun.relation",
    "noun.shape", "noun.state", "noun.substance", "noun.time", "verb.body", "verb.change", "verb.cognition",
    "verb.communication", "verb.competition", "verb.consumption", "verb.contact", "verb.creation",
    "verb.emotion", "verb.motion", "verb.perception", "verb.possession", "verb.social", "verb.stative",
    "verb.weather", "adj.ppl",
)
_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}


def lexnames_text() -> str:
    return "".join(f"{i:02d}\t{name}\t{_CATEGORY[name.split('.')[0]]}\n" for i, name in enumerate(LEXNAMES))


def nltk_data_dir(cache_dir: Path) -> Path:
    """The project's NLTK_DATA folder inside the cache."""
    return Path(cache_dir) / NLTK_SUBDIR


def has_database(folder: Path) -> bool:
    """Whether `folder` holds the WordNet database files (Debian's or nltk's layout)."""
    return all((Path(folder) / name).is_file() for name in REQUIRED_FILES)


def is_nltk_wordnet(folder: Path) -> bool:
    """Whether nltk can read `folder` as its `corpora/wordnet` (database files plus `lexnames`)."""
    return has_database(folder) and (Path(folder) / LEXNAMES_FILE).is_file()


def install_wordnet(cache_dir: Path, source: Path = DEBIAN_WORDNET_DIR) -> Path | None:
    """Copy the database from `source` into CACHE/nltk_data/corpora/wordnet (+ lexnames), once.

    Returns the installed folder, or None when `source` has no WordNet database. The copy is
    made in a staging folder and renamed into place, so a killed copy is never mistaken for a
    finished one.
    """
    target = nltk_data_dir(cache_dir) / CORPUS_SUBPATH
    if is_nltk_wordnet(target):
        return target
    if not has_database(source):
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".wordnet-", dir=target.parent))
    try:
        for name in REQUIRED_FILES + OPTIONAL_FILES:
            if (Path(source) / name).is_file():
                shutil.copyfile(Path(source) / name, staging / name)
        if (Path(source) / LEXNAMES_FILE).is_file():
            shutil.copyfile(Path(source) / LEXNAMES_FILE, staging / LEXNAMES_FILE)
        else:
            (staging / LEXNAMES_FILE).write_text(lexnames_text(), encoding="utf-8")
        staging.chmod(0o755)
        if is_nltk_wordnet(target):   # another process (a Ray actor) finished first: keep its copy
            return target
        if target.exists():           # an incomplete earlier copy
            shutil.rmtree(target)
        try:
            os.replace(staging, target)
        except OSError:
            if not is_nltk_wordnet(target):    # lost a race to a complete copy: fine; anything else is not
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


@dataclass(frozen=True)
class WordNetSource:
    reader: Any          # nltk WordNetCorpusReader
    path: str            # the folder it was read from
    how: str             # "config", "nltk_data", "cache" or "installed from <dir>"
    sha256: str          # of its database files: which WordNet it is, wherever and however it was found


def wordnet_sha256(folder: Path) -> str:
    """One sha256 over the database files (name and bytes, in a fixed order) that nltk reads."""
    digest = hashlib.sha256()
    for name in REQUIRED_FILES + OPTIONAL_FILES + (LEXNAMES_FILE,):
        path = Path(folder) / name
        if path.is_file():
            digest.update(name.encode("utf-8") + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def find_wordnet(cache_dir: Path, explicit: Path | None = None) -> tuple[Path, str] | None:
    """(folder nltk can read, how it was found), searching in order:

    `explicit` (an nltk folder is used as is; a Debian-style one is installed into the cache),
    nltk's own search path (NLTK_DATA, ~/nltk_data, ...), the project cache, and Debian's
    /usr/share/wordnet (installed into the cache). None when there is none.
    """
    if explicit is not None:
        explicit = Path(explicit).expanduser()
        if is_nltk_wordnet(explicit):
            return explicit, "config"
        installed = install_wordnet(cache_dir, explicit)
        return (installed, f"installed from {explicit}") if installed is not None else None
    cached = nltk_data_dir(cache_dir) / CORPUS_SUBPATH
    found = _nltk_search_path_wordnet(skip=cached)
    if found is not None:
        return found, "nltk_data"
    if is_nltk_wordnet(cached):
        return cached, "cache"
    installed = install_wordnet(cache_dir)
    return (installed, f"installed from {DEBIAN_WORDNET_DIR}") if installed is not None else None


def _nltk_search_path_wordnet(skip: Path) -> Path | None:
    """WordNet on nltk's search path, other than `skip` (the cache's copy: open_reader puts its root on
    that path, so an earlier job of the same process would otherwise make the cache look like nltk_data)."""
    import nltk

    for root in nltk.data.path:
        candidate = Path(root) / CORPUS_SUBPATH
        if is_nltk_wordnet(candidate) and candidate.resolve() != skip.resolve():
            return candidate
    return None


def load_wordnet(cache_dir: Path, explicit: Path | None = None) -> WordNetSource | None:
    """An nltk WordNet reader over the first copy `find_wordnet` finds; None when there is none."""
    found = find_wordnet(cache_dir, explicit)
    if found is None:
        return None
    folder, how = found
    return WordNetSource(reader=open_reader(folder), path=str(folder), how=how, sha256=wordnet_sha256(folder))


def open_reader(folder: Path) -> Any:
    """nltk's WordNetCorpusReader over `folder` (nltk >= 3.9 only reads folders on its data path)."""
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader
    from nltk.data import FileSystemPathPointer

    class EnglishWordNet(WordNetCorpusReader):
        """Princeton WordNet 3.0 without the multilingual (OMW) version mapping, which would need
        `index.sense` (not in wordnet-base) and is not used here."""

        def map_wn(self, version: str = "wordnet") -> None:
            return None

    folder = Path(folder).resolve()
    root = str(folder.parent.parent)
    if root not in nltk.data.path:
        nltk.data.path.append(root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # "multilingual functions are not available"
        return EnglishWordNet(FileSystemPathPointer(str(folder)), None)
