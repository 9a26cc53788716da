"""What a chat completion returns to callers, and what the client spent getting it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class LLMResponse:
    """One assistant answer. `cached` says it was replayed from the response cache (no request)."""

    content: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    model: str
    cached: bool = False


@dataclass(frozen=True)
class LLMFailure:
    """A chat that gave no usable answer after its retries; `reason` says why, for people."""

    reason: str
    attempts: int


class LLMError(RuntimeError):
    """Raised by `LLMClient.chat` when a single chat fails after its retries."""

    def __init__(self, failure: LLMFailure) -> None:
        super().__init__(
            f"LLM request failed after {failure.attempts} attempt(s): {failure.reason}"
        )
        self.failure = failure


@dataclass
class LLMUsage:
    """Running totals of one client's traffic, so a run can log what it spent.

    `calls` counts chats answered or failed; `requests` counts HTTP requests sent (retries
    included); `cache_hits` are chats answered without a request; `not_sent` are failures
    never sent because the endpoint had already been given up on. Tokens and cost count fresh
    answers only, since a replayed answer costs nothing.
    """

    calls: int = 0
    requests: int = 0
    cache_hits: int = 0
    failures: int = 0
    not_sent: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated_cost_usd: float = 0.0
    request_seconds: float = 0.0

    def as_metrics(self) -> dict[str, float]:
        """Flat ``llm/<field>`` floats, the shape MLflow's log_metrics takes."""
        return {f"llm/{name}": float(value) for name, value in asdict(self).items()}

    def __add__(self, other: LLMUsage) -> LLMUsage:
        """Totals over several clients (e.g. an augmenter and a tagger in one run)."""
        return LLMUsage(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )
