"""`UserError`: the base of every error a person fixes without reading code.

Config values, input files, missing API keys, damaged caches and an unreachable LLM are the
user's to fix, so the entry points print such an error as one line (no traceback) and exit
non-zero; anything else is a bug and keeps its traceback. Stage modules subclass it next to
their own base (`class CorpusFormatError(UserError, ValueError)`), so callers that catch the
usual built-in types keep working.
"""

from __future__ import annotations


class UserError(Exception):
    """An error whose message says what to fix; shown without a traceback."""
