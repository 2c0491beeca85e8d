"""``ChronoTextEmbedder``: embeds the question with the shared bi-encoder from ``chronorag.models``."""

from __future__ import annotations

from typing import Any

from haystack import component, default_from_dict, default_to_dict

from chronorag.models import get_sentence_transformer


@component
class ChronoTextEmbedder:
    """
    Embeds one text with the process-wide sentence-transformers model.

    Unlike sentence-transformers-haystack's embedder, the model is named `"default"` (or a local
    folder) and resolved at warm-up, so a dumped pipeline carries no site-packages path or device.

    ### Usage example

    ```python
    embedder = ChronoTextEmbedder()
    embedder.warm_up()
    vector = embedder.run("Who coached Chelsea?")["embedding"]  # 384 floats, unit length
    ```
    """

    def __init__(
        self,
        model: str = "default",
        device: str = "auto",
        prefix: str = "",
        suffix: str = "",
        normalize_embeddings: bool = True,
    ) -> None:
        """
        Create the embedder; the model loads in `warm_up`.

        :param model: `"default"` (the embedded all-MiniLM-L6-v2, or `CHRONORAG_EMBEDDING_MODEL`) or a
            local folder.
        :param device: torch device, or `"auto"` to pick one at warm-up.
        :param prefix: text put before the input (some models want an instruction such as `"query: "`).
        :param suffix: text put after the input.
        :param normalize_embeddings: scale to unit length, as the store's passage vectors are.
        """
        self.model = model
        self.device = device
        self.prefix = prefix
        self.suffix = suffix
        self.normalize_embeddings = normalize_embeddings
        self._encoder: Any = None

    def warm_up(self) -> None:
        """Load (or reuse) the shared bi-encoder."""
        if self._encoder is None:
            name = None if self.model == "default" else self.model
            self._encoder = get_sentence_transformer(name, device=self.device)

    def to_dict(self) -> dict[str, Any]:
        """
        Serialise the component.

        :returns: the init parameters.
        """
        return default_to_dict(
            self,
            model=self.model,
            device=self.device,
            prefix=self.prefix,
            suffix=self.suffix,
            normalize_embeddings=self.normalize_embeddings,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChronoTextEmbedder:
        """
        Deserialise the component.

        :param data: the output of `to_dict`.
        :returns: the component.
        """
        return default_from_dict(cls, data)

    @component.output_types(embedding=list[float])
    def run(self, text: str) -> dict[str, list[float]]:
        """
        Embed one text.

        :param text: the text, typically the question's main content.
        :returns: `embedding`, a list of floats.
        :raises TypeError: when given a list (use a document embedder for many texts).
        """
        if not isinstance(text, str):
            raise TypeError(
                "ChronoTextEmbedder expects one string; embed documents with the store's ingestion"
            )
        self.warm_up()
        vector = self._encoder.encode(
            [f"{self.prefix}{text}{self.suffix}"],
            normalize_embeddings=self.normalize_embeddings,
            show_progress_bar=False,
        )[0]
        return {"embedding": [float(value) for value in vector]}
