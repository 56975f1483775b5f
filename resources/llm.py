"""An optional OpenAI-compatible chat endpoint, used only to add narrative text to deterministic results.

Nothing here runs at import or construction time: the client is created per call, with ``max_retries=0`` and a
timeout, so an absent or broken endpoint costs one short failed request and surfaces as :class:`LlmUnavailable`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:
    import openai

_UNUSED_KEY = "not-needed"
"""Local OpenAI-compatible servers accept any key, but the client refuses to start without one."""


class LlmUnavailable(RuntimeError):
    """The endpoint is not configured, unreachable, or answered with something that is not a completion."""


class LlmResource(dg.ConfigurableResource):
    """Chat completions from an OpenAI-compatible endpoint (``base_url`` empty means: no LLM configured)."""

    base_url: str = ""
    model: str = "gpt-4o-mini"
    api_key: str = ""
    timeout_s: float = 20.0
    max_retries: int = 0

    @property
    def configured(self) -> bool:
        return bool(self.base_url.strip())

    def complete(self, system: str, user: str) -> str:
        """The assistant's reply to one system + user message pair; raises LlmUnavailable on any failure."""
        if not self.configured:
            raise LlmUnavailable("no LLM endpoint configured (llm.base_url is empty)")
        import openai  # a second to import: only the runs that call the endpoint pay it

        client = openai.OpenAI(
            base_url=self.base_url, api_key=self.api_key or _UNUSED_KEY,
            timeout=self.timeout_s, max_retries=self.max_retries,
        )
        try:
            response = client.chat.completions.create(
                model=self.model,
                messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
            )
        except openai.OpenAIError as error:
            raise LlmUnavailable(f"LLM endpoint {self.base_url} failed: {_describe(error)}") from None
        finally:
            client.close()
        return _reply_text(response, self.base_url)


def _reply_text(response: object, base_url: str) -> str:
    try:
        content = response.choices[0].message.content  # type: ignore[attr-defined]
    except (AttributeError, IndexError, TypeError):
        raise LlmUnavailable(f"LLM endpoint {base_url} returned no choices") from None
    if not isinstance(content, str) or not content.strip():
        raise LlmUnavailable(f"LLM endpoint {base_url} returned an empty message")
    return content.strip()


def _describe(error: openai.OpenAIError) -> str:
    """The error class and HTTP status only: response bodies may echo request headers such as the API key."""
    status = getattr(error, "status_code", None)
    return f"{type(error).__name__}" + (f" (HTTP {status})" if status else "")
