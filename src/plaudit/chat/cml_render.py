"""Write a ``<cml:ai_chat_feedback/>`` tag back from a config (QA jobs derive their CML)."""

from __future__ import annotations

import html

from plaudit.chat.cml import TAG, ChatFeedbackConfig


def render_cml(config: ChatFeedbackConfig) -> str:
    """The tag for ``config`` (used when a QA job is derived from a finished job)."""
    attrs: list[tuple[str, str]] = [("name", config.name)]
    if config.label:
        attrs.append(("label", config.label))
    if config.source_column:
        attrs.append(("source-data", "{{" + config.source_column + "}}"))
    else:
        attrs.append(("source-data", "[" + ",".join(map(str, config.source_model_ids or ())) + "]"))
    if config.preamble:
        attrs.append(("preamble", config.preamble))
    if config.live_preamble:
        instruction = (config.live_preamble_instruction or "").replace("'", "\\'")
        attrs.append(("live-preamble", f"[true,'{instruction}']"))
    for attribute, value in (
        ("review-data", config.review_data),
        ("seed", config.seed),
        ("regex", config.regex),
    ):
        if value:
            attrs.append((attribute, value))
    for attribute, number in (
        ("min-turns", config.min_turns or None),
        ("max-turns", config.max_turns),
        ("num-responses", config.num_responses),
        ("min-length", config.min_length),
        ("max-length", config.max_length),
    ):
        if number is not None:
            attrs.append((attribute, str(number)))
    flags = {
        "custom-response": config.custom_response,
        "rich": config.rich,
        "enhanced": config.enhanced,
        "allow-continue": config.allow_continue,
        "show-feedback-answers": config.show_feedback_answers,
        "allow-custom-response-edit": config.allow_custom_response_edit,
        "disable-paste": config.disable_paste,
    }
    attrs.extend((k, "true" if v else "false") for k, v in flags.items())
    if config.num_responses is None:
        attrs.append(("expanded-data", "true" if config.expanded_data else "false"))
    if config.validates:
        attrs.append(("validates", " ".join(config.validates)))
    body = " ".join(f'{k}="{html.escape(v, quote=True)}"' for k, v in attrs)
    return f"<{TAG} {body} />"
