"""LLM client layer: cached, retrying, paced chat completions on OpenAI-compatible endpoints."""
