"""Owner-only modes for the restricted folder, and the site's modes from the user's umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from transforms import restricted


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _tree(root: Path) -> Path:
    (root / "packets" / "deep").mkdir(parents=True)
    (root / "a.csv").write_text("x")
    (root / "packets" / "p.html").write_text("x")
    (root / "packets" / "deep" / "q.html").write_text("x")
    outside = root.parent / "outside.txt"
    outside.write_text("x")
    os.chmod(outside, 0o644)
    (root / "link").symlink_to(outside)
    for path, mode in ((root, 0o755), (root / "packets", 0o775), (root / "a.csv", 0o644),
                       (root / "packets" / "p.html", 0o600), (root / "packets" / "deep" / "q.html", 0o666)):
        os.chmod(path, mode)
    return outside


def test_make_private_gives_every_folder_0700_and_file_0600_and_leaves_links(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "restricted"
    outside = _tree(root)
    changed: list[str] = []
    real = os.chmod

    def chmod(path, mode, *args, **kwargs):
        changed.append(os.path.relpath(path, root))
        return real(path, mode, *args, **kwargs)

    monkeypatch.setattr(restricted.os, "chmod", chmod)
    restricted.make_private(root)
    entries = [root, *root.rglob("*")]
    assert {_mode(p) for p in entries if p.is_dir() and not p.is_symlink()} == {0o700}
    assert {_mode(p) for p in entries if p.is_file() and not p.is_symlink()} == {0o600}
    assert _mode(outside) == 0o644  # reached through a link: not ours to change
    # what had the mode already was not touched (the walk runs at every step of a run)
    assert sorted(changed) == [".", "a.csv", "packets", "packets/deep", "packets/deep/q.html"]
    changed.clear()
    restricted.make_private(root)
    assert changed == ["."]


def test_apply_umask_gives_the_site_the_modes_of_the_user_s_umask(tmp_path: Path) -> None:
    root = tmp_path / "site"
    _tree(root)
    restricted.apply_umask(root, 0o022)
    entries = [root, *root.rglob("*")]
    assert {_mode(p) for p in entries if p.is_dir() and not p.is_symlink()} == {0o755}
    assert {_mode(p) for p in entries if p.is_file() and not p.is_symlink()} == {0o644}
