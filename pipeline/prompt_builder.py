"""``TemporalPromptBuilder``: the answering prompt: reference time, asked time, dated passages."""

from __future__ import annotations

from typing import Any

from haystack import Document, component, default_from_dict, default_to_dict
from jinja2.sandbox import SandboxedEnvironment

from chronorag.pipeline.evidence import describe_constraint, matched_sentence
from chronorag.pipeline.options import choice_from_evidence, option_letters
from chronorag.temporal.meta import source_title
from chronorag.temporal.model import TemporalConstraint

# Short on purpose: the default LLM is small and loses the question in long prompts. The code has already
# chosen the answer from the timeline of the evidence (which answer holds for the asked time); the LLM
# restates it and cites the passage. The choice is stated as a finding, not as "passage [n] gives the
# answer ...": the 0.5B echoed that wording into its replies.
DEFAULT_TEMPLATE = """Today is {{ reference_time }}.

{% for passage in passages -%}
[{{ passage.n }}] {{ passage.title }}{% if passage.date %} (published {{ passage.date }}){% endif %}: \
{{ passage.text }}
{% endfor %}
{%- if candidate %}
Question: {{ question }}
Asked time: {{ asked_time }}.
Checked against the dates of passage [{{ candidate.passage }}], the answer is \
{{ candidate.answer }}{% if candidate.time %} ({{ candidate.time }}){% endif %}.
Restate that answer as one short sentence that starts with "{{ candidate.answer }}" and cites \
[{{ candidate.passage }}].
{%- else %}
Question: {{ question }}
Asked time: {{ asked_time }}.
Answer in one short sentence and cite the passage you used as [1], [2] or [3].
{%- endif %}"""

# `mode="read"`: the LLM reads the passages and names the answer in a few words; `ReaderArbiter` then
# checks it against the timeline (which answer holds for the asked time), so no choice is shown here.
# The reference time and the numbered, dated passages: how the read and choice prompts begin.
_DATED_PASSAGES = """Today is {{ reference_time }}.

Passages:
{% for passage in passages -%}
[{{ passage.n }}] {{ passage.title }}{% if passage.date %} (published {{ passage.date }}){% endif %}: \
{{ passage.text }}
{% endfor %}
"""
READ_TEMPLATE = (
    _DATED_PASSAGES
    + """Question: {{ question }}
Asked time: {{ asked_time }}.
Give only the answer (a name, place, organisation, number or date) in a few words, not a sentence."""
)
# Options given with the question (multiple choice): the LLM reads the top passages and names the option's
# letter; `ChronoAnswerBuilder` lets the passages decide first and the letter where they are silent.
CHOICE_TEMPLATE = (
    _DATED_PASSAGES
    + """Question: {{ question }}
Options:
{% for option in options -%}
{{ option }}
{% endfor -%}
Answer with the letter of the option the passages support."""
)
# Worked examples for `mode="read"` (few-shot turns before the question; the generator keeps them in its
# cached preamble, so they cost no prompt time per question). Hand-written, not from any benchmark: each
# shows the answer as the passage writes it, of the asked type, holding at the asked time (a start and an
# end date around it, a city or league beside the asked institution or team).
READ_EXAMPLES: tuple[dict[str, Any], ...] = (
    {
        "reference_time": "2024-03-01",
        "passages": [
            (
                "Lakeside School Board",
                "Maria Silva chaired the Lakeside School Board from 2014. In March 2021 Peter Lund replaced "
                "Silva as chair.",
            ),
            ("Lakeside", "Lakeside is a town on the eastern shore of Lake Arden, with a harbour."),
        ],
        "question": "Who chaired the Lakeside School Board in 2018?",
        "asked_time": "in 2018",
        "answer": "Maria Silva",
    },
    {
        "reference_time": "2024-03-01",
        "passages": [
            (
                "Anna Weber",
                "Weber obtained her doctorate at Heidelberg University in 1998. She was a postdoctoral "
                "fellow at the University of Toronto in Canada until 2001, when she became professor at ETH "
                "Zurich.",
            ),
            ("Heidelberg", "Heidelberg is a city on the Neckar in Baden-Württemberg, Germany."),
        ],
        "question": "Which university did Anna Weber work for from 1999 to 2000?",
        "asked_time": "from 1999 to 2000",
        "answer": "University of Toronto",
    },
    {
        "reference_time": "2024-03-01",
        "passages": [
            (
                "Marco Bellini",
                "Bellini began his career at Atalanta and moved to Sampdoria in 2009. After four seasons in "
                "Genoa he joined Club Brugge of the Belgian First Division A in 2013.",
            )
        ],
        "question": "Which team did Marco Bellini play for from 2010 to 2012?",
        "asked_time": "from 2010 to 2012",
        "answer": "Sampdoria",
    },
    {
        "reference_time": "2024-03-01",
        "passages": [
            (
                "Northern Line Ferries",
                "The company was founded in 1987 by Erik Dahl. In 1998 it was bought by the Baltic Shipping "
                "Group, which sold it to Nordic Sea Holdings AB in 2011.",
            )
        ],
        "question": "Who owned Northern Line Ferries from 2003 to 2008?",
        "asked_time": "from 2003 to 2008",
        "answer": "Baltic Shipping Group",
    },
)
MODES = ("phrase", "read")
FOCUSES = ("match", "answer")


@component
class TemporalPromptBuilder:
    """
    Builds the LLM prompt from the question, its time constraint and the ranked passages.

    The template is Jinja2 (sandboxed) with the variables `question`, `reference_time` (ISO),
    `asked_time` (the constraint in words, e.g. "from 2004 to 2005"), `passages` (each with `n`,
    `title`, `date`, `text`), `candidate` (the answer the timeline chose, with its `passage`,
    `sentence`, `time` it holds and `answer`, or `None`).

    It builds no prompt when no reply would be used (:func:`reply_needed`): the timeline abstained (and, in
    `"read"` mode, no two sources dispute the answer), or the passages already write one of the question's
    options. The generator then does not run.

    ### Usage example

    ```python
    builder = TemporalPromptBuilder(max_passages=3)
    prompt = builder.run(query=question, documents=ranked, constraint=constraint)["prompt"]
    ```
    """

    def __init__(
        self,
        template: str | None = None,
        max_passages: int = 3,
        max_passage_chars: int = 400,
        use_candidates: bool = True,
        prefill_answer: bool = True,
        mode: str = "phrase",
        focus: str = "match",
        examples: int = 0,
        first_passage_chars: int | None = None,
    ) -> None:
        """
        Create the builder.

        :param template: a Jinja2 template, or `None` for the mode's default one.
        :param max_passages: how many top passages the prompt shows (in `"phrase"` mode with a chosen
            answer, only that answer's passage is shown).
        :param max_passage_chars: each passage is cut to about this many characters around its best
            sentence.
        :param use_candidates: show the extractor's best candidate so the small LLM need not reason about
            dates.
        :param prefill_answer: output the candidate answer and its citation ("Tom Hale [1]") as
            `reply_prefix`, so that a generator that supports pre-filling starts its reply with it (the
            small local LLM then only phrases the rest).
        :param mode: `"phrase"`: the prompt shows the timeline's choice for the LLM to phrase; `"read"`: the
            LLM reads the passages and names the answer itself (no choice shown, no prefill), for
            `ReaderArbiter` to check against the timeline.
        :param focus: what a passage is cut around: `"match"`, the sentence the ranker matched (its time
            span); `"answer"`, the sentence of the passage's candidate answer that best fits the asked time
            (the timeline's), else the matched sentence. An answer often follows the date that matched
            ("remained in Germany until 2004 ... She moved to ... the University of Arizona").
        :param examples: in `"read"` mode, how many worked examples (:data:`READ_EXAMPLES`, rendered with
            the template) go with the prompt as earlier turns for the generator (few-shot); 0 for none.
        :param first_passage_chars: the first passage's budget instead of `max_passage_chars` (`None`: the
            same): the top passage holds the answer most often, and where a budget is short it cuts the
            answer off first there.
        :raises ValueError: for an unknown mode or focus, or a number of examples out of range, or a
            budget below 1.
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if focus not in FOCUSES:
            raise ValueError(f"focus must be one of {', '.join(FOCUSES)}, not {focus!r}")
        if not 0 <= examples <= len(READ_EXAMPLES):
            raise ValueError(f"examples must be within [0, {len(READ_EXAMPLES)}], not {examples}")
        if max_passage_chars < 1 or (first_passage_chars is not None and first_passage_chars < 1):
            raise ValueError("passage budgets must be at least 1 character")
        self.mode = mode
        self.focus = focus
        self.first_passage_chars = first_passage_chars
        self.examples = examples
        self.template = template
        self.max_passages = max_passages
        self.max_passage_chars = max_passage_chars
        self.use_candidates = use_candidates
        self.prefill_answer = prefill_answer
        self._compiled = SandboxedEnvironment(keep_trailing_newline=False).from_string(
            template or (READ_TEMPLATE if mode == "read" else DEFAULT_TEMPLATE)
        )
        # Fixed for the builder's life: rendered once, not per question.
        self._examples = self._worked_examples()

    def to_dict(self) -> dict[str, Any]:
        """
        Serialise the component.

        :returns: the init parameters.
        """
        return default_to_dict(
            self,
            template=self.template,
            max_passages=self.max_passages,
            max_passage_chars=self.max_passage_chars,
            use_candidates=self.use_candidates,
            prefill_answer=self.prefill_answer,
            mode=self.mode,
            focus=self.focus,
            examples=self.examples,
            first_passage_chars=self.first_passage_chars,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TemporalPromptBuilder:
        """
        Deserialise the component.

        :param data: the output of `to_dict`.
        :returns: the component.
        """
        return default_from_dict(cls, data)

    @component.output_types(prompt=str, reply_prefix=str, examples=list[dict[str, str]])
    def run(
        self,
        query: str,
        documents: list[Document],
        constraint: TemporalConstraint | None = None,
        candidates: list[dict[str, Any]] | None = None,
        abstention: dict[str, Any] | None = None,
        choices: list[str] | None = None,
    ) -> dict[str, str]:
        """
        Render the prompt.

        :param query: the question.
        :param documents: the ranked passages, best first (a summary in `meta["summary"]` replaces the
            passage).
        :param constraint: the question's decomposition.
        :param candidates: the extractor's candidates, best first (the first is the chosen answer).
        :param abstention: the extractor's `{abstained, reason}`; when it abstained no candidate is shown.
        :param choices: the question's options (multiple choice): the prompt lists them with letters and
            the top passages, and asks for the letter (no candidate, no prefill).
        :returns: `prompt`, `reply_prefix` (the candidate answer with its citation when
            `prefill_answer` is on, else `""`) and `examples` (the worked examples, `{prompt, reply}`, for
            the generator to put before the prompt; empty unless reading); nothing when no reply would be
            used (:func:`reply_needed`), so that the generator does not run.
        :raises ValueError: for more than 8 options.
        """
        if not reply_needed(query, documents, abstention, choices, reads_disputes=self.mode == "read"):
            return {}
        if choices:
            return {
                "prompt": self._choice_prompt(query, documents, constraint, choices),
                "reply_prefix": "",
                "examples": [],
            }
        showing = self.use_candidates and self.mode == "phrase"
        candidate = candidates[0] if showing and candidates else None
        shown = set(range(1, min(self.max_passages, len(documents)) + 1))
        if candidate is not None and 1 <= candidate["passage"] <= len(documents):
            # The LLM only phrases the chosen answer: its passage alone (by its number) is what it needs,
            # and every other passage costs prompt time on a CPU and tempts a small model off the choice.
            shown = {candidate["passage"]}
        # The chosen answer's passage is cut around the sentence the answer comes from.
        focus = {candidate["passage"]: candidate.get("sentence")} if candidate is not None else {}
        if candidate is None and self.focus == "answer":
            focus = _best_fitting_sentences(candidates or [])
        passages = [self._passage(documents, index, focus.get(index)) for index in sorted(shown)]
        prompt = self._compiled.render(
            question=query,
            reference_time=constraint.reference_time.isoformat() if constraint else "unknown",
            asked_time=describe_constraint(constraint),
            passages=passages,
            candidate=candidate,
        )
        # The reply starts with the chosen answer and its citation; the small local LLM phrases the rest.
        prefix = ""
        if candidate and self.prefill_answer:
            prefix = f"{candidate['answer']} [{candidate['passage']}]"
        examples = [dict(example) for example in self._examples]  # copies: a caller may edit its own
        return {"prompt": prompt.strip(), "reply_prefix": prefix, "examples": examples}

    def _worked_examples(self) -> list[dict[str, str]]:
        """The first `examples` of :data:`READ_EXAMPLES` in this builder's template (read mode only)."""
        if self.mode != "read":
            return []
        return [
            {
                "prompt": self._compiled.render(
                    question=example["question"],
                    reference_time=example["reference_time"],
                    asked_time=example["asked_time"],
                    passages=[
                        {"n": number, "title": title, "date": None, "text": text}
                        for number, (title, text) in enumerate(example["passages"], 1)
                    ],
                    candidate=None,
                ).strip(),
                "reply": example["answer"],
            }
            for example in READ_EXAMPLES[: self.examples]
        ]

    def _choice_prompt(
        self, query: str, documents: list[Document], constraint: TemporalConstraint | None, choices: list[str]
    ) -> str:
        """The multiple-choice prompt: the top passages, the question and its lettered options."""
        passages = [
            self._passage(documents, index) for index in range(1, min(self.max_passages, len(documents)) + 1)
        ]
        return _CHOICE.render(
            question=query,
            reference_time=constraint.reference_time.isoformat() if constraint else "unknown",
            passages=passages,
            options=option_letters(choices),
        ).strip()

    def _passage(self, documents: list[Document], number: int, focus: str | None = None) -> dict[str, Any]:
        doc = documents[number - 1]
        meta = doc.meta or {}
        return {
            "n": number,
            "title": source_title(meta),
            "date": meta.get("date"),
            "text": self._passage_text(doc, focus, self._budget(number)),
        }

    def _budget(self, number: int) -> int:
        """How many characters passage `number` (1-based) may show."""
        if number == 1 and self.first_passage_chars is not None:
            return self.first_passage_chars
        return self.max_passage_chars

    def _passage_text(self, doc: Document, focus: str | None = None, budget: int | None = None) -> str:
        """The summary when the summariser wrote one; else the passage cut to `budget` characters (default
        `max_passage_chars`) around `focus` (a sentence of it, e.g. the one the chosen answer comes from)
        or else the sentence the ranker matched."""
        meta = doc.meta or {}
        text = " ".join((meta.get("summary") or doc.content or "").split())
        budget = budget or self.max_passage_chars
        if len(text) <= budget:
            return text
        focus = " ".join((focus or "").split())
        sentence = focus if focus and focus in text else matched_sentence(doc)
        start = text.find(sentence) if sentence else -1
        if start < 0:
            return text[:budget].rsplit(" ", 1)[0] + " ..."
        if len(sentence) <= budget:
            # Centre the window on the sentence: where the answer or the dated evidence is.
            left = max(0, start - (budget - len(sentence)) // 2)
        else:
            # A matched "sentence" longer than the budget (a passage-level ranker matches the whole passage)
            # is cut too: around the time span the ranker matched in it, else from its start.
            middle = _span_focus(doc, sentence)
            left = start + (
                0 if middle is None else max(0, min(middle - budget // 2, len(sentence) - budget))
            )
        window = text[left : left + budget]
        return ("... " if left else "") + window + (" ..." if left + len(window) < len(text) else "")


_CHOICE = SandboxedEnvironment(keep_trailing_newline=False).from_string(CHOICE_TEMPLATE)


def _best_fitting_sentences(candidates: list[dict[str, Any]]) -> dict[int, str]:
    """Per passage number, the sentence of its candidate answer that best fits the asked time (the
    earlier candidate on a tie: the timeline ranks them best first)."""
    best: dict[int, tuple[float, str]] = {}
    for item in candidates:
        number, sentence = item.get("passage"), item.get("sentence")
        fit = float(item.get("fit") or 0.0)
        if isinstance(number, int) and sentence and (number not in best or fit > best[number][0]):
            best[number] = (fit, sentence)
    return {number: sentence for number, (_, sentence) in best.items()}


def _span_focus(doc: Document, sentence: str) -> int | None:
    """Where in the matched sentence the matched time span's text is (its middle), or `None`."""
    span = (doc.meta or {}).get("matched_span")
    text = " ".join(str(span.get("text") or "").split()) if isinstance(span, dict) else ""
    found = sentence.find(text) if text else -1
    return None if found < 0 else found + len(text) // 2


def reply_needed(
    query: str,
    documents: list[Document],
    abstention: dict[str, Any] | None = None,
    choices: list[str] | None = None,
    reads_disputes: bool = False,
) -> bool:
    """
    Whether the answer would use an LLM reply to this question (`ChronoAnswerBuilder`'s order): not when
    the timeline abstained (the abstention is stated as it is), unless two sources dispute the answer and a
    reading may settle it (`ReaderArbiter`); with options not when the passages write one of them (the
    passages decide first); with options and silent passages the reply names one, even after an abstention.

    :param query: the question.
    :param documents: the ranked passages.
    :param abstention: the extractor's `{abstained, reason, disputed}`.
    :param choices: the question's options, if any.
    :param reads_disputes: the LLM reads the passages (`mode="read"`), so its answer may settle a dispute.
    :returns: `True` when a prompt should be built and generated.
    """
    if choices:
        return choice_from_evidence(query, choices, documents) is None
    if not (abstention and abstention.get("abstained")):
        return True
    return reads_disputes and bool(abstention.get("disputed"))
