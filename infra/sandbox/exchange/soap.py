"""SOAP envelope parts of EWS: namespaces, the request header, response messages and faults."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
ERRORS = "http://schemas.microsoft.com/exchange/services/2006/errors"
NSMAP = {"s": SOAP, "m": M, "t": T}


def m(tag: str) -> str:
    return f"{{{M}}}{tag}"


def t(tag: str) -> str:
    return f"{{{T}}}{tag}"


class EwsError(Exception):
    """An EWS response code for one response message (ResponseClass="Error")."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


class SoapFault(Exception):
    """A request-level failure that EWS reports as a SOAP fault (HTTP 500), e.g. impersonation errors."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


@dataclass(frozen=True)
class SoapRequest:
    """The parts of a request envelope that the operations need."""

    operation: str
    body: etree._Element
    impersonated: str | None


def parse_request(payload: bytes) -> SoapRequest:
    """Parse an envelope; malformed XML or a missing body is the client's fault (ErrorSchemaValidation)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(payload, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise SoapFault("ErrorSchemaValidation", f"The request is not well-formed XML: {exc}") from exc
    body = root.find(f"{{{SOAP}}}Body")
    if body is None or len(body) == 0:
        raise SoapFault("ErrorSchemaValidation", "The request has no SOAP body.")
    operation_elem = body[0]
    impersonated = None
    header = root.find(f"{{{SOAP}}}Header")
    if header is not None:
        smtp = header.find(f"{t('ExchangeImpersonation')}/{t('ConnectingSID')}/{t('PrimarySmtpAddress')}")
        if smtp is not None and smtp.text:
            impersonated = smtp.text.strip().lower()
    return SoapRequest(etree.QName(operation_elem).localname, operation_elem, impersonated)


def _envelope() -> tuple[etree._Element, etree._Element]:
    envelope = etree.Element(f"{{{SOAP}}}Envelope", nsmap=NSMAP)
    header = etree.SubElement(envelope, f"{{{SOAP}}}Header")
    # Exchange 2016 (15.1); exchangelib reads the build from here and keeps talking Exchange2016.
    etree.SubElement(
        header,
        t("ServerVersionInfo"),
        MajorVersion="15",
        MinorVersion="1",
        MajorBuildNumber="2507",
        MinorBuildNumber="6",
        Version="Exchange2016",
    )
    body = etree.SubElement(envelope, f"{{{SOAP}}}Body")
    return envelope, body


def response_envelope(operation: str, messages: list[etree._Element]) -> bytes:
    envelope, body = _envelope()
    response = etree.SubElement(body, m(f"{operation}Response"))
    container = etree.SubElement(response, m("ResponseMessages"))
    container.extend(messages)
    document: bytes = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
    return document


def success_message(operation: str) -> etree._Element:
    message = etree.Element(m(f"{operation}ResponseMessage"), ResponseClass="Success")
    etree.SubElement(message, m("ResponseCode")).text = "NoError"
    return message


def error_message(operation: str, error: EwsError) -> etree._Element:
    message = etree.Element(m(f"{operation}ResponseMessage"), ResponseClass="Error")
    etree.SubElement(message, m("MessageText")).text = error.text
    etree.SubElement(message, m("ResponseCode")).text = error.code
    etree.SubElement(message, m("DescriptiveLinkKey")).text = "0"
    return message


def fault_envelope(fault: SoapFault) -> bytes:
    """A SOAP 1.1 fault in the shape Exchange sends, with the EWS code in the detail (exchangelib maps it)."""
    envelope, body = _envelope()
    element = etree.SubElement(body, f"{{{SOAP}}}Fault")
    code = etree.SubElement(element, "faultcode", nsmap={"a": ERRORS})
    code.text = f"a:{fault.code}"
    etree.SubElement(element, "faultstring").text = fault.text
    detail = etree.SubElement(element, "detail")
    etree.SubElement(detail, f"{{{ERRORS}}}ResponseCode", nsmap={"e": ERRORS}).text = fault.code
    etree.SubElement(detail, f"{{{ERRORS}}}Message").text = fault.text
    document: bytes = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
    return document
