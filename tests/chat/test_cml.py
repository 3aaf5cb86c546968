"""Every attribute of <cml:ai_chat_feedback>: parsed, defaulted and checked."""

from __future__ import annotations

import pytest

from plaudit.chat.cml import (
    DEFAULT_LIVE_PREAMBLE_INSTRUCTION,
    ChatFeedbackConfig,
    check_header,
    parse_cml,
)
from plaudit.chat.cml_render import render_cml
from plaudit.errors import Invalid


def tag(**attrs: str) -> str:
    attrs.setdefault("source_data", "[18,19]")
    body = " ".join(f'{k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    return f"<cml:ai_chat_feedback {body} />"


def invalid(cml: str, **kwargs: object) -> Invalid:
    with pytest.raises(Invalid) as caught:
        parse_cml(cml, **kwargs)  # type: ignore[arg-type]
    return caught.value


def test_seed_example_defaults():
    config = parse_cml(
        '<cml:ai_chat_feedback label="Provide chat feedback" name="annotation" '
        'source-data="{{source_data}}" validates="required" />'
    )
    assert config.source_column == "source_data" and config.source_model_ids is None
    assert config.label == "Provide chat feedback" and config.name == "annotation"
    assert config.required and config.validates == ("required",)
    assert (config.min_turns, config.max_turns, config.num_responses) == (0, None, None)
    assert not any(
        [
            config.custom_response,
            config.rich,
            config.enhanced,
            config.allow_continue,
            config.allow_custom_response_edit,
            config.live_preamble,
            config.disable_paste,
        ]
    )
    assert config.expanded_data and config.show_feedback_answers


def test_tolerates_markup_quotes_whitespace_and_closing_tag():
    cml = """<div class="x"><h2>Chat</h2>
      <cml:ai_chat_feedback
          label='Chat &amp; rate'   source-data = '[87, 88,89]'
          num-response="2" ></cml:ai_chat_feedback><p>after</p></div>"""
    config = parse_cml(cml)
    assert config.label == "Chat & rate"
    assert config.source_model_ids == (87, 88, 89)
    assert config.num_responses == 2 and config.expanded_data is False


@pytest.mark.parametrize(
    ("value", "ids", "column"),
    [
        ("18", (18,), None),
        ("[87,88,89]", (87, 88, 89), None),
        ("{{ model_col }}", None, "model_col"),
    ],
)
def test_source_data_forms(value, ids, column):
    config = parse_cml(tag(source_data=value))
    assert (config.source_model_ids, config.source_column) == (ids, column)


@pytest.mark.parametrize("value", ["", "abc", "[1,x]", "[1,1]", "{{}}"])
def test_bad_source_data(value):
    assert invalid(tag(source_data=value)).path == "source-data"


def test_source_data_required_and_models_checked():
    assert invalid("<cml:ai_chat_feedback name='a'/>").path == "source-data"
    error = invalid(tag(source_data="[18,99]"), configured_model_ids={18, 19})
    assert error.path == "source-data" and "99" in error.message


def test_live_preamble_forms():
    assert parse_cml(tag(live_preamble="[true]")).live_preamble_instruction == (
        DEFAULT_LIVE_PREAMBLE_INSTRUCTION
    )
    custom = parse_cml(tag(live_preamble="[true,'Describe the customer']"))
    assert custom.live_preamble and custom.live_preamble_instruction == "Describe the customer"
    single = parse_cml("<cml:ai_chat_feedback source-data='1' live-preamble='[true,\"Hi\"]'/>")
    assert single.live_preamble_instruction == "Hi"
    assert parse_cml(tag(live_preamble="[false]")).live_preamble is False
    assert invalid(tag(live_preamble="[yes]")).path == "live-preamble"


def test_columns_checked_against_header():
    config = parse_cml(tag(seed="seed_col", review_data="history", preamble="You are {{persona}}"))
    assert config.referenced_columns() == ["history", "seed_col", "persona"]
    for missing, path in (
        ("seed_col", "seed"),
        ("history", "review-data"),
        ("persona", "preamble"),
    ):
        header = {"seed_col", "history", "persona"} - {missing}
        with pytest.raises(Invalid) as caught:
            check_header(config, header)
        assert caught.value.path == path and missing in caught.value.message
    assert invalid(tag(source_data="{{models}}"), header=["x"]).path == "source-data"


@pytest.mark.parametrize(
    ("attrs", "path"),
    [
        ({"min_turns": "-1"}, "min-turns"),
        ({"min_turns": "x"}, "min-turns"),
        ({"max_turns": "0"}, "max-turns"),
        ({"min_turns": "4", "max_turns": "3"}, "min-turns"),
        ({"num_responses": "3"}, "num-responses"),
        ({"num_responses": "0"}, "num-responses"),
        ({"num_responses": "1", "expanded_data": "true"}, "expanded-data"),
        ({"rich": "yes"}, "rich"),
        ({"enhanced": "1"}, "enhanced"),
        ({"custom_response": "maybe"}, "custom-response"),
        ({"allow_continue": "no"}, "allow-continue"),
        ({"show_feedback_answers": ""}, "show-feedback-answers"),
        ({"allow_custom_response_edit": "on"}, "allow-custom-response-edit"),
        ({"disable_paste": "nope"}, "disable-paste"),
        ({"validates": "required bogus"}, "validates"),
        ({"regex": "(unclosed"}, "regex"),
        ({"min_length": "5", "max_length": "2"}, "min-length"),
        ({"max_length": "0"}, "max-length"),
        ({"name": "has space"}, "name"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_values_name_the_attribute(attrs, path):
    error = invalid(tag(**attrs))
    assert error.path == path and path in error.message


def test_flags_and_numbers():
    config = parse_cml(
        tag(min_turns="2", max_turns="5", custom_response="true", rich="TRUE", enhanced="true",
            allow_continue="true", show_feedback_answers="false",
            allow_custom_response_edit="true", disable_paste="true", regex="^[A-Z]",
            min_length="3", max_length="200", expanded_data="false", preamble="Be kind")
    )  # fmt: skip
    assert (config.min_turns, config.max_turns) == (2, 5)
    assert config.custom_response and config.rich and config.enhanced and config.allow_continue
    assert not config.show_feedback_answers and config.allow_custom_response_edit
    assert config.disable_paste and config.regex == "^[A-Z]"
    assert (config.min_length, config.max_length) == (3, 200)
    assert config.expanded_data is False and config.preamble == "Be kind"


def test_num_responses_default_turns_expanded_off_but_explicit_false_is_fine():
    assert parse_cml(tag(num_responses="1")).expanded_data is False
    assert parse_cml(tag(num_responses="1", expanded_data="false")).num_responses == 1


def test_duplicate_and_missing_tag():
    assert invalid(tag(rich="true", RICH="false")).path == "rich"
    assert invalid("<p>no tag</p>").path == "cml"
    assert invalid(tag() + tag()).path == "cml"


def test_round_trip_render_and_dict():
    config = parse_cml(
        tag(live_preamble="[true,'It\\'s context']", seed="s", max_turns="4", enhanced="true")
    )
    assert parse_cml(render_cml(config)) == config.__class__(
        **{**config.__dict__, "expanded_data_explicit": True}
    )
    assert ChatFeedbackConfig.from_dict(config.to_dict()) == config
