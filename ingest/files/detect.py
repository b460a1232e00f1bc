"""Choose the profile of a file from its name and header columns."""

from __future__ import annotations

from fnmatch import fnmatch

from ingest.files.profiles import Profile
from ingest.files.readers import FileRejected, SourceFile


def _score(src: SourceFile, profile: Profile) -> tuple[int, str]:
    """How well a profile fits (0 = not at all) and, if not, why."""
    d = profile.detect
    if src.kind != profile.format:
        return 0, f"{profile.name}: reads {profile.format}, the file is {src.kind or 'of unknown type'}"
    score = 1
    if d.filename:
        if not any(fnmatch(src.name.lower(), pattern.lower()) for pattern in d.filename):
            return 0, f"{profile.name}: name does not match {' or '.join(d.filename)}"
        score += 10
    if d.header:
        try:
            header = set(src.header(profile))
        except FileRejected as exc:
            return 0, f"{profile.name}: {exc}"
        missing = [c for c in d.header if c not in header]
        if missing:
            return 0, f"{profile.name}: header lacks {', '.join(missing)}"
        score += len(d.header)
    return score, ""


def detect_profile(src: SourceFile, profiles: dict[str, Profile]) -> Profile:
    """The best-fitting profile; an unknown or ambiguous file is rejected with the reasons."""
    scored = [(_score(src, p), p) for p in profiles.values()]
    fits = sorted(((s, p) for (s, _), p in scored if s > 0), key=lambda sp: -sp[0])
    if not fits:
        reasons = "; ".join(why for (_, why), _ in scored)
        raise FileRejected(f"cannot determine the format profile ({reasons}); give one with --profile")
    if len(fits) > 1 and fits[0][0] == fits[1][0]:
        tied = ", ".join(p.name for s, p in fits if s == fits[0][0])
        raise FileRejected(f"ambiguous format profile: {tied} all fit; give one with --profile")
    return fits[0][1]
