"""LLM layer: cached, retrying, paced chat completions on OpenAI-compatible endpoints; chat
prompts and the parsing of their answers."""
