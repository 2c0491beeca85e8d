"""``EvidenceSummarizer``: MRAG's evidence summarisation, each top passage condensed with its dates."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from haystack import Document, component, default_from_dict, default_to_dict
from haystack.core.serialization import component_to_dict
from haystack.utils import deserialize_component_inplace

from chronorag.pipeline.evidence import describe_constraint
from chronorag.temporal.meta import source_title
from chronorag.temporal.model import TemporalConstraint

IRRELEVANT = "irrelevant"
_YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})\b")

PROMPT = """Passage ({title}{date}): {text}

Question: {question}
The question asks about {asked}.
In one sentence, say what the passage states about the question, keeping every date and name.
If the passage says nothing about it, reply only: {irrelevant}"""


@component
class EvidenceSummarizer:
    """
    Summarises each of the top passages with an LLM, focused on the question's main content and keeping
    its dates (MRAG's second module). A passage the LLM calls irrelevant is dropped (the best-ranked
    passage is always kept). The summary goes to `meta["summary"]`; the passage text is unchanged, so
    its time spans still point into it. Years of the passage's matched sentence that the summary lost
    are appended to it, since the small LLM tends to drop them.

    Costs one LLM call per passage: off in the `fast` preset, on in `accurate`.

    ### Usage example

    ```python
    summarizer = EvidenceSummarizer(generator=LocalLLMGenerator(), top_k=3)
    summarizer.warm_up()
    documents = summarizer.run(documents=ranked, constraint=constraint)["documents"]
    ```
    """

    def __init__(
        self, generator: Any = None, top_k: int = 3, max_new_tokens: int = 48, drop_irrelevant: bool = True
    ) -> None:
        """
        Create the summariser.

        :param generator: a generator component with `run(prompt, max_new_tokens)` (`LocalLLMGenerator`,
            `OpenAICompatibleGenerator`); `None` for a default `LocalLLMGenerator`.
        :param top_k: how many top passages are summarised; later ones pass through unchanged.
        :param max_new_tokens: the token budget of each summary.
        :param drop_irrelevant: drop passages the LLM calls irrelevant.
        """
        if generator is None:
            from chronorag.pipeline.local_generator import LocalLLMGenerator

            generator = LocalLLMGenerator(max_new_tokens=max_new_tokens)
        self.generator = generator
        self.top_k = top_k
        self.max_new_tokens = max_new_tokens
        self.drop_irrelevant = drop_irrelevant

    def warm_up(self) -> None:
        """Warm up the generator."""
        if hasattr(self.generator, "warm_up"):
            self.generator.warm_up()

    def to_dict(self) -> dict[str, Any]:
        """
        Serialise the component, with its generator nested.

        :returns: the init parameters.
        """
        return default_to_dict(
            self,
            generator=component_to_dict(self.generator, "generator"),
            top_k=self.top_k,
            max_new_tokens=self.max_new_tokens,
            drop_irrelevant=self.drop_irrelevant,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvidenceSummarizer:
        """
        Deserialise the component.

        :param data: the output of `to_dict`.
        :returns: the component.
        """
        params = data["init_parameters"]
        known = _known_generators().get(params["generator"].get("type"))
        if known is not None:
            # Our own generators need no allow-list entry; any other class goes through Haystack's checks.
            params["generator"] = known.from_dict(params["generator"])
        else:
            deserialize_component_inplace(params, key="generator")
        return default_from_dict(cls, data)

    @component.output_types(documents=list[Document])
    def run(self, documents: list[Document], constraint: TemporalConstraint | None = None) -> dict[str, Any]:
        """
        Summarise the top passages.

        :param documents: ranked passages, best first.
        :param constraint: the question's decomposition (its content focuses the summary).
        :returns: `documents`: the same order, summarised ones with `meta["summary"]`, irrelevant ones
            dropped.
        """
        self.warm_up()
        question = (constraint.content or constraint.question) if constraint else ""
        result = []
        for rank, doc in enumerate(documents):
            if rank >= self.top_k:
                result.append(doc)
                continue
            summary = self._summarise(doc, question, constraint)
            if summary is None and self.drop_irrelevant and rank > 0:
                continue
            meta = {**(doc.meta or {}), "summary": summary}
            result.append(replace(doc, meta=meta))
        return {"documents": result}

    def _summarise(self, doc: Document, question: str, constraint: TemporalConstraint | None) -> str | None:
        meta = doc.meta or {}
        prompt = PROMPT.format(
            title=source_title(meta) or "untitled",
            date=f", published {meta['date']}" if meta.get("date") else "",
            text=" ".join((doc.content or "").split())[:1200],
            question=question,
            asked=describe_constraint(constraint),
            irrelevant=IRRELEVANT,
        )
        reply = self.generator.run(prompt=prompt, max_new_tokens=self.max_new_tokens)["replies"][0].strip()
        if not reply or reply.lower().strip(" .!") == IRRELEVANT:
            return None
        lost = [year for year in _YEAR.findall(str(meta.get("matched_sentence") or "")) if year not in reply]
        if lost:
            reply = f"{reply} (dates in the passage: {', '.join(dict.fromkeys(lost))})"
        return reply


def _known_generators() -> dict[str, type]:
    from chronorag.pipeline.local_generator import LocalLLMGenerator
    from chronorag.pipeline.openai_generator import OpenAICompatibleGenerator

    return {
        "chronorag.pipeline.local_generator.LocalLLMGenerator": LocalLLMGenerator,
        "chronorag.pipeline.openai_generator.OpenAICompatibleGenerator": OpenAICompatibleGenerator,
    }
