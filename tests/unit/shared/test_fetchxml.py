"""The FetchXML subset of sync filters: every operator and nesting parsed, everything else refused by name."""

from __future__ import annotations

import pytest

from shared.fetchxml import MAX_DEPTH, OPERATORS, Condition, FetchQuery, FetchXmlError, FilterGroup, parse

MY_ACTIVE_CONTACTS = """
<fetch version="1.0" output-format="xml-platform" mapping="logical" distinct="false">
  <entity name="contact">
    <attribute name="fullname" />
    <order attribute="fullname" descending="false" />
    <filter type="and">
      <condition attribute="ownerid" operator="eq-userid" />
      <condition attribute="statecode" operator="eq" value="0" />
    </filter>
  </entity>
</fetch>"""


def _one(condition: str) -> Condition:
    query = parse(f'<fetch><entity name="contact"><filter>{condition}</filter></entity></fetch>')
    assert query.filter is not None
    (only,) = query.filter.conditions
    return only


def test_the_default_contact_template_parses_ignoring_columns_and_order() -> None:
    assert parse(MY_ACTIVE_CONTACTS) == FetchQuery(
        entity="contact",
        filter=FilterGroup(kind="and", groups=(), conditions=(
            Condition("ownerid", "eq-userid", ()), Condition("statecode", "eq", ("0",)))))


@pytest.mark.parametrize(("condition", "expected"), [
    ('<condition attribute="jobtitle" operator="eq" value="Buyer"/>', ("jobtitle", "eq", ("Buyer",))),
    ('<condition attribute="jobtitle" operator="ne" value="Buyer"/>', ("jobtitle", "ne", ("Buyer",))),
    ('<condition attribute="jobtitle" operator="null"/>', ("jobtitle", "null", ())),
    ('<condition attribute="jobtitle" operator="not-null"/>', ("jobtitle", "not-null", ())),
    ('<condition attribute="statecode" operator="in"><value>0</value><value> 1 </value></condition>',
     ("statecode", "in", ("0", "1"))),
    ('<condition attribute="statecode" operator="not-in"><value>2</value></condition>',
     ("statecode", "not-in", ("2",))),
    ('<condition attribute="statecode" operator="in" value="0"/>', ("statecode", "in", ("0",))),
    ('<condition attribute="fullname" operator="like" value="%Ann_"/>', ("fullname", "like", ("%Ann_",))),
    ('<condition attribute="prioritycode" operator="gt" value="1"/>', ("prioritycode", "gt", ("1",))),
    ('<condition attribute="prioritycode" operator="ge" value="1"/>', ("prioritycode", "ge", ("1",))),
    ('<condition attribute="prioritycode" operator="lt" value="1"/>', ("prioritycode", "lt", ("1",))),
    ('<condition attribute="prioritycode" operator="le" value="1"/>', ("prioritycode", "le", ("1",))),
    ('<condition attribute="scheduledstart" operator="on-or-after" value="2027-01-04"/>',
     ("scheduledstart", "on-or-after", ("2027-01-04",))),
    ('<condition attribute="scheduledstart" operator="on-or-before" value="2027-01-04"/>',
     ("scheduledstart", "on-or-before", ("2027-01-04",))),
    ('<condition attribute="ownerid" operator="eq-userid"/>', ("ownerid", "eq-userid", ())),
    ('<condition attribute="ownerid" operator="ne-userid"/>', ("ownerid", "ne-userid", ())),
    ('<condition attribute="ownerid" operator="eq-userteams"/>', ("ownerid", "eq-userteams", ())),
    ('<condition attribute="ownerid" operator="eq-useroruserteams"/>', ("ownerid", "eq-useroruserteams", ())),
    ('<condition attribute="owningbusinessunit" operator="eq-businessid"/>',
     ("owningbusinessunit", "eq-businessid", ())),
    ('<condition attribute="parentcustomerid" operator="eq" value="{AB}" uiname="Contoso" uitype="account"/>',
     ("parentcustomerid", "eq", ("{AB}",))),
])
def test_every_operator_parses(condition: str, expected: tuple[str, str, tuple[str, ...]]) -> None:
    assert _one(condition) == Condition(*expected)


def test_the_table_covers_every_operator() -> None:
    assert len(OPERATORS) == 18


def test_nested_filters_keep_their_kinds_and_order() -> None:
    query = parse("""<fetch><entity name="task"><filter type="or">
        <condition attribute="ownerid" operator="eq-userid"/>
        <filter type="and"><condition attribute="statecode" operator="eq" value="0"/>
          <filter type="or"><condition attribute="subject" operator="like" value="Call%"/></filter></filter>
        </filter></entity></fetch>""")
    innermost = FilterGroup("or", (Condition("subject", "like", ("Call%",)),), ())
    middle = FilterGroup("and", (Condition("statecode", "eq", ("0",)),), (innermost,))
    assert query == FetchQuery("task", FilterGroup("or", (Condition("ownerid", "eq-userid", ()),), (middle,)))


def test_a_filter_without_type_is_and_and_no_filter_is_none() -> None:
    assert parse('<fetch><entity name="fax"><filter/></entity></fetch>').filter == FilterGroup("and", (), ())
    assert parse('<fetch><entity name="fax"><attribute name="subject"/></entity></fetch>') == FetchQuery("fax", None)


def test_nesting_is_bounded() -> None:
    def nested(depth: int) -> str:
        inner = '<condition attribute="x" operator="null"/>'
        return "<fetch><entity name='fax'>" + "<filter>" * depth + inner + "</filter>" * depth + "</entity></fetch>"

    assert parse(nested(MAX_DEPTH)).filter is not None
    with pytest.raises(FetchXmlError, match="nests deeper than 32"):
        parse(nested(MAX_DEPTH + 1))
    with pytest.raises(FetchXmlError):
        parse(nested(5000))  # refused, not a RecursionError


def test_two_filters_under_the_entity_both_apply() -> None:
    query = parse('<fetch><entity name="fax"><filter type="or"/><filter type="and"/></entity></fetch>')
    assert query.filter == FilterGroup("and", (), (FilterGroup("or", (), ()), FilterGroup("and", (), ())))


@pytest.mark.parametrize(("fetchxml", "named", "operator"), [
    ('<fetch><entity name="contact"><filter><condition attribute="createdon" operator="today"/></filter></entity>'
     "</fetch>", "'today'", "today"),
    ('<fetch><entity name="contact"><filter><condition attribute="x" operator="not-like" value="a"/></filter></entity>'
     "</fetch>", "'not-like'", "not-like"),
    ('<fetch><entity name="contact"><filter><condition attribute="x" operator="between"><value>1</value>'
     "<value>2</value></condition></filter></entity></fetch>", "'between'", "between"),
    ('<fetch><entity name="contact"><link-entity name="account" from="accountid" to="parentcustomerid"/></entity>'
     "</fetch>", "<link-entity>", None),
    ('<fetch><entity name="contact"><filter><link-entity name="a"/></filter></entity></fetch>', "<link-entity>", None),
    ('<fetch><entity name="contact"><filter type="not"/></entity></fetch>', 'type="not"', None),
    ('<fetch><entity name="contact"/><entity name="task"/></fetch>', "exactly one <entity>", None),
    ("<fetch/>", "exactly one <entity>", None),
    ('<fetch><order attribute="x"/></fetch>', "<order>", None),
    ('<savedquery><entity name="contact"/></savedquery>', "<savedquery>", None),
    ("<fetch><entity/></fetch>", "'name'", None),
    ('<fetch><entity name="contact"><filter><condition operator="eq" value="1"/></filter></entity></fetch>',
     "'attribute'", None),
    ('<fetch><entity name="contact"><filter><condition attribute="x" value="1"/></filter></entity></fetch>',
     "'operator'", None),
    ('<fetch><entity name="contact"><filter><condition attribute="x" operator="eq"/></filter></entity></fetch>',
     "exactly one value", "eq"),
    ('<fetch><entity name="contact"><filter><condition attribute="x" operator="eq" value="1"><value>2</value>'
     "</condition></filter></entity></fetch>", "exactly one value", "eq"),
    ('<fetch><entity name="contact"><filter><condition attribute="x" operator="in"/></filter></entity></fetch>',
     "at least one <value>", "in"),
    ('<fetch><entity name="contact"><filter><condition attribute="ownerid" operator="eq-userid" value="a"/></filter>'
     "</entity></fetch>", "takes no value", "eq-userid"),
    ('<fetch><entity name="contact"><filter><condition attribute="x" operator="eq" valueof="y"/></filter></entity>'
     "</fetch>", "'valueof'", "eq"),
    ('<fetch><entity name="contact"><filter><condition entityname="a" attribute="x" operator="null"/></filter>'
     "</entity></fetch>", "'entityname'", "null"),
    ('<fetch><entity name="contact"><filter><condition attribute="x" operator="in"><item>1</item></condition>'
     "</filter></entity></fetch>", "<item>", "in"),
    ("<fetch><entity name='contact'>", "malformed", None),
    ("not xml at all", "malformed", None),
    ('<!DOCTYPE fetch [<!ENTITY e "x">]><fetch><entity name="&e;"/></fetch>', "DOCTYPE", None),
])
def test_everything_outside_the_subset_is_refused_by_name(fetchxml: str, named: str, operator: str | None) -> None:
    with pytest.raises(FetchXmlError) as refused:
        parse(fetchxml)
    assert named in str(refused.value)
    assert refused.value.operator == operator
    assert isinstance(refused.value, ValueError)
