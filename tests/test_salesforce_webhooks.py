"""Salesforce Outbound Messages: parsing real-shaped SOAP, refusing hostile XML, acknowledging."""
import pytest
from lxml import etree

from connectors.salesforce.webhooks import OUTBOUND_NS, ack_response, parse_outbound_message

MESSAGE = b"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>00D000000000001EAA</OrganizationId>
   <ActionId>04k000000000001AAA</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://example.my.salesforce.com/services/Soap/c/59.0/00D000000000001</EnterpriseUrl>
   <PartnerUrl>https://example.my.salesforce.com/services/Soap/u/59.0/00D000000000001</PartnerUrl>
   <Notification>
    <Id>04l000000000001AAA</Id>
    <sObject xsi:type="sf:Lead" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>00Q000000000001AAA</sf:Id>
     <sf:Email>Ana@Example.com</sf:Email>
     <sf:IsConverted>false</sf:IsConverted>
     <sf:Title xsi:nil="true"/>
    </sObject>
   </Notification>
   <Notification>
    <Id>04l000000000002AAA</Id>
    <sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>006000000000001AAA</sf:Id>
     <sf:StageName>Engaging</sf:StageName>
    </sObject>
   </Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>"""


def test_parses_organization_action_and_each_notification():
    message = parse_outbound_message(MESSAGE)
    assert message.organization_id == "00D000000000001EAA"
    assert message.action_id == "04k000000000001AAA"
    assert message.session_id is None
    assert [(n.id, n.object_type, n.record_id) for n in message.notifications] == [
        ("04l000000000001AAA", "Lead", "00Q000000000001AAA"),
        ("04l000000000002AAA", "Opportunity", "006000000000001AAA"),
    ]
    lead = message.notifications[0]
    assert lead.fields == {"Id": "00Q000000000001AAA", "Email": "Ana@Example.com",
                           "IsConverted": "false", "Title": None}


@pytest.mark.parametrize("deleted", [
    # Outbound Messaging considerations: a record deleted before delivery yields a notification without data.
    b'<sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com"/>',
    b"",
])
def test_a_notification_without_data_does_not_fail_the_message(deleted):
    start = MESSAGE.index(b'<sObject xsi:type="sf:Opportunity"')
    end = MESSAGE.index(b"</sObject>", start) + len(b"</sObject>")
    message = parse_outbound_message(MESSAGE[:start] + deleted + MESSAGE[end:])
    assert [(n.id, n.record_id) for n in message.notifications] == [
        ("04l000000000001AAA", "00Q000000000001AAA"), ("04l000000000002AAA", None)]
    assert message.notifications[1].fields == {}


@pytest.mark.parametrize("body", [
    b"",
    b"not xml at all",
    b"<a><b></a>",
    b'<Envelope xmlns="urn:other"/>',
    b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>',
    MESSAGE.replace(b"<OrganizationId>00D000000000001EAA</OrganizationId>", b""),
    MESSAGE.replace(b"<Id>04l000000000002AAA</Id>", b""),
])
def test_malformed_messages_are_refused_with_a_value_error(body):
    with pytest.raises(ValueError):
        parse_outbound_message(body)


def test_entities_and_dtds_are_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    hostile = MESSAGE.replace(
        b'<?xml version="1.0" encoding="UTF-8"?>',
        f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY leak SYSTEM "file://{secret}">]>'.encode(),
    ).replace(b"Ana@Example.com", b"&leak;")
    with pytest.raises(ValueError) as refused:
        parse_outbound_message(hostile)
    assert "TOP-SECRET" not in str(refused.value)


def test_billion_laughs_is_refused():
    bomb = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
            b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
            b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
            b"<lolz>&lol3;</lolz>")
    with pytest.raises(ValueError):
        parse_outbound_message(bomb)


def test_ack_response_is_the_notifications_response_envelope():
    for ack, text in ((True, "true"), (False, "false")):
        root = etree.fromstring(ack_response(ack))
        node = root.find(f"{{http://schemas.xmlsoap.org/soap/envelope/}}Body/"
                         f"{{{OUTBOUND_NS}}}notificationsResponse/{{{OUTBOUND_NS}}}Ack")
        assert node is not None and node.text == text
