"""The services' logging setup: chatty HTTP libraries quiet, secrets and bearer tokens never in a line."""

from __future__ import annotations

import io
import logging
import logging.config
import sys
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from shared.runtime import MASK, QUIET_LOGGERS, RedactingFormatter, configure_logging, logging_config, secrets_of
from shared.settings import CrmSettings, ExchangeSettings

# Test values, not credentials.
CLIENT_SECRET = "crm-client-secret-4f1c"
EWS_PASSWORD = "ews-password-9b2e"


class Settings(CrmSettings, ExchangeSettings):
    """A service's settings with both secrets, as exchange_capture has them."""


@pytest.fixture
def settings() -> Settings:
    return Settings(crm_client_secret=SecretStr(CLIENT_SECRET), ews_password=SecretStr(EWS_PASSWORD), log_level="DEBUG")


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """configure_logging changes the root logger: put pytest's handlers and the levels back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    quiet = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, previous in quiet.items():
        logging.getLogger(name).setLevel(previous)


def test_secrets_of_finds_every_secret_setting(settings: Settings) -> None:
    assert sorted(secrets_of(settings)) == sorted([CLIENT_SECRET, EWS_PASSWORD])


def test_a_password_inside_a_url_setting_is_a_secret_too() -> None:
    from shared.settings import RedisSettings

    with_password = RedisSettings(redis_url="redis://fieldsync:redis-pass-71c3@redis.internal:6379/0")
    assert secrets_of(with_password) == ["redis-pass-71c3"]
    assert secrets_of(RedisSettings(redis_url="redis://127.0.0.1:16379/0")) == []
    line = RedactingFormatter(secrets_of(with_password)).format(
        logging.makeLogRecord({"msg": "connecting to %s", "args": (with_password.redis_url,)})
    )
    assert "redis-pass-71c3" not in line


@pytest.mark.parametrize(
    ("message", "args"),
    [
        ("token request failed: client_secret=%s", (CLIENT_SECRET,)),
        ("EWS login as svc with %r refused", (EWS_PASSWORD,)),
        ("headers: %s", ({"Authorization": "Bearer eyJ0eXAiOiJKV1Qi.eyJzdWIiOiIx.c2lnbmF0dXJl"},)),
        ("retrying with authorization: bearer abc.DEF-123_~+/== after 401", ()),
    ],
)
def test_a_line_never_carries_a_secret_or_a_bearer_token(
    settings: Settings, message: str, args: tuple[object, ...]
) -> None:
    formatter = RedactingFormatter(secrets_of(settings))
    record = logging.LogRecord("fieldsync.test", logging.WARNING, __file__, 1, message, args, None)
    line = formatter.format(record)
    assert MASK in line
    for leaked in (CLIENT_SECRET, EWS_PASSWORD, "eyJ0eXAiOiJKV1Qi", "abc.DEF"):
        assert leaked not in line, line


def test_a_traceback_is_masked_too(settings: Settings) -> None:
    formatter = RedactingFormatter(secrets_of(settings))
    try:
        raise RuntimeError(f"upstream said: invalid client_secret {CLIENT_SECRET}")
    except RuntimeError:
        record = logging.LogRecord("fieldsync.test", logging.ERROR, __file__, 1, "failed", (), None)
        record.exc_info = sys.exc_info()
    line = formatter.format(record)
    assert "RuntimeError" in line and CLIENT_SECRET not in line


def test_configure_logging_masks_and_quiets_the_http_libraries(settings: Settings, restored_logging: None) -> None:
    handler = configure_logging(settings)
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    handler.setStream(stream)
    logging.getLogger("httpx").info("HTTP Request: GET http://crm/api/data/v9.2/contacts \"HTTP/1.1 200 OK\"")
    logging.getLogger("exchangelib").debug("body with %s", EWS_PASSWORD)
    logging.getLogger("httpx").warning("token endpoint said %s", CLIENT_SECRET)
    logging.getLogger("fieldsync.crm_capture").debug("polled with %s", EWS_PASSWORD)
    lines = stream.getvalue().splitlines()
    assert logging.getLogger().level == logging.DEBUG  # the service's own level is the configured one
    assert len(lines) == 2, lines  # httpx's INFO and exchangelib's DEBUG are gone, warnings stay
    assert all(CLIENT_SECRET not in line and EWS_PASSWORD not in line for line in lines), lines


def test_logging_config_is_the_same_setup_as_a_dict_for_faust(settings: Settings, restored_logging: None) -> None:
    logging.config.dictConfig(logging_config(settings))
    (handler,) = logging.getLogger().handlers
    assert isinstance(handler, logging.StreamHandler) and isinstance(handler.formatter, RedactingFormatter)
    stream = io.StringIO()
    handler.setStream(stream)
    logging.getLogger("httpx").info("HTTP Request: GET http://crm/ 200")
    logging.getLogger("faust.worker").info("[^Worker]: Ready, client_secret=%s", CLIENT_SECRET)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and " INFO faust.worker [^Worker]: Ready, client_secret=***" in lines[0], lines
