"""Chat prompts from config: templates with placeholders, filled into chat messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class ChatPrompt:
    """A chat prompt from config: `system` and `user` templates with ``{field}`` placeholders.

    `example` renders one few-shot example (fields ``sentence`` and ``tagged``); the rendered
    examples fill the ``{examples}`` placeholder of `user`. Prompts live in
    ``conf/augmenter/prompts/*.yaml`` so that wording is changed and swept without code.
    """

    user: str
    system: str = ""
    example: str = ""
    name: str = "prompt"

    def messages(self, examples: Sequence[Mapping[str, str]] = (), **fields: Any) -> Messages:
        """The chat messages with every placeholder filled; a missing field is a config error."""
        rendered_examples = "".join(self._format(self.example, "example", e) for e in examples)
        values = {**fields, "examples": rendered_examples}
        messages = []
        if self.system:
            messages.append(
                {"role": "system", "content": self._format(self.system, "system", values)}
            )
        messages.append({"role": "user", "content": self._format(self.user, "user", values)})
        return messages

    def _format(self, template: str, part: str, values: Mapping[str, Any]) -> str:
        try:
            return template.format(**values)
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(
                f"prompt {self.name!r}, {part} template: cannot fill placeholder ({error!r}); "
                f"available fields are {sorted(values)}. Fix the prompt in "
                f"conf/augmenter/prompts/ (write literal braces as '{{{{' and '}}}}')."
            ) from error
