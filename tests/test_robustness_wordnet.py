"""WordNet offline: installed from Debian's wordnet-base into the cache (with the lexnames file nltk
needs), read through nltk, and the synonym lexicon built on it."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from audit.data.prepare.build import prepare_wordnet
from audit.data.wordnet import (DEBIAN_WORDNET_DIR, LEXNAMES, LEXNAMES_FILE, REQUIRED_FILES, find_wordnet, has_database,
                           install_wordnet, is_nltk_wordnet, lexnames_text, load_wordnet, nltk_data_dir,
                           wordnet_sha256)
from suites.robustness.lexicon import WordNetLexicon

pytestmark = pytest.mark.skipif(not has_database(DEBIAN_WORDNET_DIR),
                                reason="Debian's wordnet-base is not installed (make system-deps)")
LEXNAMES_MAN_PAGE = Path("/usr/share/man/man5/lexnames.5WN.gz")


@pytest.fixture(scope="module")
def lexicon(tmp_path_factory) -> WordNetLexicon:
    found = load_wordnet(tmp_path_factory.mktemp("cache"))
    assert found is not None
    return WordNetLexicon(found.reader, max_synonyms=50)


def test_install_copies_the_database_and_writes_lexnames_once(tmp_path):
    target = install_wordnet(tmp_path)
    assert target == nltk_data_dir(tmp_path) / "corpora" / "wordnet" and is_nltk_wordnet(target)
    assert all((target / name).stat().st_size == (DEBIAN_WORDNET_DIR / name).stat().st_size for name in REQUIRED_FILES)
    lines = (target / LEXNAMES_FILE).read_text().splitlines()
    assert len(lines) == 45 and lines[0] == "00\tadj.all\t3" and lines[44] == "44\tadj.ppl\t3"
    stamp = (target / LEXNAMES_FILE).stat().st_mtime_ns
    assert install_wordnet(tmp_path) == target and (target / LEXNAMES_FILE).stat().st_mtime_ns == stamp
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".wordnet-")], "no staging folder left"


@pytest.mark.skipif(not LEXNAMES_MAN_PAGE.is_file(), reason="wordnet-base's man pages are not installed")
def test_lexnames_match_wordnets_own_list():
    page = gzip.open(LEXNAMES_MAN_PAGE, "rt").read().splitlines()
    listed = [line.split("\t")[1].strip() for line in page if line[:2].isdigit() and "\t" in line]
    assert tuple(listed) == LEXNAMES
    assert lexnames_text().count("\n") == 45


def test_an_incomplete_copy_is_replaced(tmp_path):
    target = install_wordnet(tmp_path)
    os.remove(target / LEXNAMES_FILE)
    assert not is_nltk_wordnet(target)
    assert install_wordnet(tmp_path) == target and is_nltk_wordnet(target)


def test_no_database_means_none(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert install_wordnet(tmp_path / "cache", empty) is None
    assert find_wordnet(tmp_path / "cache", explicit=empty) is None
    messages = []
    assert prepare_wordnet(tmp_path / "cache2", messages.append) is not None    # Debian's copy exists here
    assert not messages


def test_explicit_folder_in_nltk_layout_is_used_as_is(tmp_path):
    target = install_wordnet(tmp_path / "a")
    folder, how = find_wordnet(tmp_path / "b", explicit=target)
    assert folder == target and how == "config"
    folder, how = find_wordnet(tmp_path / "c", explicit=DEBIAN_WORDNET_DIR)
    assert how.startswith("installed from") and is_nltk_wordnet(folder)


def test_what_a_run_records_does_not_depend_on_an_earlier_job_of_the_process(tmp_path, monkeypatch):
    """open_reader puts the cache's root on nltk's search path; a second job in the same process (the
    local executor) used to report the cache as "nltk_data" where a fresh Ray actor said "cache"."""
    import nltk

    monkeypatch.setattr(nltk.data, "path", [])       # no copy on nltk's path (earlier tests put theirs there)
    first, second = load_wordnet(tmp_path / "cache"), load_wordnet(tmp_path / "cache")
    assert first.how.startswith("installed from") and second.how == "cache" and second.path == first.path
    other = load_wordnet(tmp_path / "elsewhere")                 # another cache folder, same database
    assert first.sha256 == second.sha256 == other.sha256 and len(first.sha256) == 64
    os.chmod(Path(first.path) / "lexnames", 0o644)
    (Path(first.path) / "lexnames").write_text(lexnames_text().replace("noun.Tops", "noun.tops"))
    assert wordnet_sha256(Path(first.path)) != other.sha256      # a changed file is another WordNet


def test_an_install_that_lost_a_race_keeps_the_finished_copy(tmp_path, monkeypatch):
    """Two Ray actors install into one cache at once: the second must neither delete the first's
    finished folder (a reader may be using it) nor fail on the rename."""
    import audit.data.wordnet as wordnet

    winner = install_wordnet(tmp_path / "won")
    real_replace = os.replace

    def rival_finishes_first(src, dst):
        wordnet.shutil.copytree(winner, dst)                     # the other actor's rename lands first
        real_replace(src, dst)

    monkeypatch.setattr(wordnet.os, "replace", rival_finishes_first)
    target = install_wordnet(tmp_path / "cache")
    assert is_nltk_wordnet(target)
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".wordnet-")], "no staging folder left"


def test_synonyms_are_single_words_without_the_word_or_its_base_form(lexicon):
    assert "film" in lexicon.synonyms("movie")
    movies = lexicon.synonyms("movies")
    assert "film" in movies and "movie" not in movies and "movies" not in movies
    assert all(s.isalpha() for s in lexicon.synonyms("good"))
    assert lexicon.synonyms("the") == [] and lexicon.synonyms("it's") == []


def test_parts_of_speech_and_base_forms(lexicon):
    assert lexicon.primary_pos("movie") == "n" and lexicon.primary_pos("terrible") == "a"
    assert "v" in lexicon.pos("run") and "n" in lexicon.pos("run")
    assert lexicon.is_base_form("film", "n") and not lexicon.is_base_form("films", "n")
    assert lexicon.is_word("flick") and not lexicon.is_word("flikc")
