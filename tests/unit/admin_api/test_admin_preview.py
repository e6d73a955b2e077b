"""The preview's candidate (services/admin_api/preview.py): the current policy with the request's changes, refused
as a real change would be."""

from __future__ import annotations

import pytest

from services.admin_api.preview import PreviewRequest, candidate
from services.admin_api.service import NotChangeable, UnknownEntity, UnknownField
from shared.events import OrgSettings
from tests.policy_builders import CATALOGUE, policy

CURRENT = policy(contact__jobtitle="to_crm").model_copy(
    update={"conflict_rules": {"contact": "latest"}, "settings": OrgSettings(delete_exchange_tasks_in_crm=False)}
)


def test_the_candidate_is_the_current_policy_with_every_change() -> None:
    request = PreviewRequest.model_validate({
        "changes": [{"entity": "contact", "field": "description", "direction": "none"}],
        "rule_changes": [{"entity": "task", "rule": "crm_wins"}],
        "settings": {"sync_appointment_attachments": True},
    })  # fmt: skip
    made = candidate(CATALOGUE, CURRENT, request)
    assert made.direction("contact", "description") == "none" and made.direction("contact", "jobtitle") == "to_crm"
    assert made.conflict_rules == {"contact": "latest", "task": "crm_wins"}
    # Only the settings named change: the others keep the current policy's values, not the defaults.
    assert made.settings == OrgSettings(delete_exchange_tasks_in_crm=False, sync_appointment_attachments=True)
    assert made.version == CURRENT.version and CURRENT.direction("contact", "description") == "both"


def test_an_empty_request_is_the_current_policy() -> None:
    assert candidate(CATALOGUE, CURRENT, PreviewRequest()) == CURRENT


@pytest.mark.parametrize(("change", "refusal"), [
    ({"entity": "widget", "field": "x", "direction": "none"}, UnknownEntity),
    ({"entity": "contact", "field": "nosuch", "direction": "none"}, UnknownField),
    ({"entity": "contact", "field": "fullname", "direction": "none"}, NotChangeable),
])  # fmt: skip
def test_a_bad_change_is_refused_as_a_real_change_would_be(change: dict[str, str], refusal: type[Exception]) -> None:
    with pytest.raises(refusal):
        candidate(CATALOGUE, CURRENT, PreviewRequest.model_validate({"changes": [change]}))
