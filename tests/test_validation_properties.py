"""Property tests of the validator: any body either becomes a valid grid or a clean
InvalidPayload, never another exception (which the server would answer with a 500)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_blocks.validation import InvalidPayload, Limits, PayloadValidator
from tests.utils import make_payload, set_at

VALIDATOR = PayloadValidator(Limits(max_cells=400))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)


def outcome(body: bytes) -> Any:
    try:
        return VALIDATOR.validate(body, allow_title=True)
    except InvalidPayload as error:
        assert error.message
        for field_error in error.errors:
            assert isinstance(field_error.path, str) and field_error.message
        return error


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_any_bytes_are_handled(body: bytes) -> None:
    outcome(body)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_json_document_is_handled(document: Any) -> None:
    outcome(json.dumps(document).encode())


@settings(max_examples=300, deadline=None)
@given(
    path=st.sampled_from(
        [
            "ipb_class",
            "secret",
            "code_cells",
            "title",
            "python_version",
            "grid_data",
            "grid_data.width",
            "grid_data.height",
            "grid_data.lines_on",
            "grid_data.blocks",
            "grid_data.blocks.0",
            "grid_data.blocks.1.2",
            "grid_data.blocks.0.0.3",
        ]
    ),
    value=json_values,
)
def test_any_value_anywhere_in_a_valid_payload_is_handled(path: str, value: Any) -> None:
    payload = make_payload()
    set_at(payload, path, value)
    result = outcome(json.dumps(payload).encode())
    if not isinstance(result, InvalidPayload):
        assert len(result.grid_data["blocks"]) == result.height
        assert all(len(row) == result.width for row in result.grid_data["blocks"])
