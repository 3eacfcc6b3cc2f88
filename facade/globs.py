"""The one glob rule for every pattern a user writes (policy targets and match keys, tolerance overrides).

Shell-style (``*``, ``?``, ``[...]``) and case-insensitive: ops write ``ARM*`` for a
GPU vendor that drivers report as ``arm``, and ``MobileNet*`` for ``mobilenet_v2``.
"""

from __future__ import annotations

import fnmatch


def glob_match(pattern: str, value: str) -> bool:
    """Whether ``value`` matches the shell-style ``pattern``, ignoring case."""
    return fnmatch.fnmatchcase(value.lower(), pattern.lower())
