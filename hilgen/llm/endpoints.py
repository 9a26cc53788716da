"""Where chat requests go: OpenAI, Azure OpenAI, or any OpenAI-compatible server (vLLM, ...).

An endpoint knows its URL (for the sensitive-data guard), a stable identity (for the cache
key) and how to open an `openai` client. API keys are read from the environment at open
time and handed straight to that client; endpoints only keep the variable's *name*.
"""

from __future__ import annotations

import os
from typing import Protocol, runtime_checkable

import openai

from hilgen.errors import UserError
from hilgen.llm.sensitive import normalise_url

#: Sent where a server needs some key but checks none (vLLM, llama.cpp without --api-key).
UNCHECKED_API_KEY = "unused"


@runtime_checkable
class Endpoint(Protocol):
    """What `LLMClient` needs from an endpoint."""

    @property
    def base_url(self) -> str:
        """Where requests go (the host decides what the sensitive-data guard allows)."""
        ...

    @property
    def cache_identity(self) -> str:
        """Same string for the same model service across runs (a local port may change)."""
        ...

    def open(self, timeout_s: float) -> openai.OpenAI:
        """A ready client, with retries left to `LLMClient` (max_retries=0)."""
        ...

    def close(self) -> None:
        """Release what `open` started (a local server); safe to call twice."""
        ...

    def redact(self, text: str) -> str:
        """`text` with this endpoint's secret, if any, masked: for error messages and logs."""
        ...


class MissingAPIKeyError(UserError, RuntimeError):
    """The environment variable that should hold an endpoint's API key is unset or empty."""


def read_api_key(env_name: str) -> str:
    """The key in environment variable `env_name`; a clear error when it is unset."""
    api_key = os.environ.get(env_name, "").strip()
    if not api_key:
        raise MissingAPIKeyError(
            f"Environment variable {env_name} is not set. Export your API key there "
            f"(`export {env_name}=...`); keys are never read from config files."
        )
    return api_key


def redact_env_secret(text: str, env_name: str | None) -> str:
    """Mask the value of environment variable `env_name` wherever it occurs in `text`."""
    secret = os.environ.get(env_name, "").strip() if env_name else ""
    return text.replace(secret, "***") if secret else text


class OpenAIEndpoint:
    """OpenAI itself, or any OpenAI-compatible server (vLLM, TGI, LiteLLM) at `base_url`.

    `api_key_env=None` is for servers that check no key.
    """

    def __init__(
        self, base_url: str = "https://api.openai.com/v1", api_key_env: str | None = None
    ) -> None:
        self._base_url = base_url
        self.api_key_env = api_key_env

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def cache_identity(self) -> str:
        return normalise_url(self._base_url)

    def open(self, timeout_s: float) -> openai.OpenAI:
        api_key = read_api_key(self.api_key_env) if self.api_key_env else UNCHECKED_API_KEY
        return openai.OpenAI(
            base_url=self._base_url, api_key=api_key, timeout=timeout_s, max_retries=0
        )

    def close(self) -> None:
        """Nothing to release: the `openai` client is closed by its owner."""

    def redact(self, text: str) -> str:
        return redact_env_secret(text, self.api_key_env)

    def __repr__(self) -> str:
        return f"OpenAIEndpoint(base_url={self._base_url!r}, api_key_env={self.api_key_env!r})"


class AzureOpenAIEndpoint:
    """An Azure OpenAI deployment; requests name the deployment, not the model."""

    def __init__(
        self,
        azure_endpoint: str,
        api_version: str,
        deployment: str,
        api_key_env: str = "AZURE_OPENAI_API_KEY",
    ) -> None:
        self.azure_endpoint = azure_endpoint
        self.api_version = api_version
        self.deployment = deployment
        self.api_key_env = api_key_env

    @property
    def base_url(self) -> str:
        return self.azure_endpoint

    @property
    def cache_identity(self) -> str:
        return f"{normalise_url(self.azure_endpoint)}|{self.deployment}|{self.api_version}"

    def open(self, timeout_s: float) -> openai.OpenAI:
        return openai.AzureOpenAI(
            azure_endpoint=self.azure_endpoint,
            api_version=self.api_version,
            azure_deployment=self.deployment,
            api_key=read_api_key(self.api_key_env),
            timeout=timeout_s,
            max_retries=0,
        )

    def close(self) -> None:
        """Nothing to release: the `openai` client is closed by its owner."""

    def redact(self, text: str) -> str:
        return redact_env_secret(text, self.api_key_env)

    def __repr__(self) -> str:
        return (
            f"AzureOpenAIEndpoint(azure_endpoint={self.azure_endpoint!r}, "
            f"api_version={self.api_version!r}, deployment={self.deployment!r}, "
            f"api_key_env={self.api_key_env!r})"
        )
