"""Connections to YDB: SDK credentials for the six auth methods, the driver config, retry settings, and a session
pool per operation that turns the SDK's errors into SourceUnavailableError / YdbQueryError with secrets redacted.

Credentials objects are built without touching the network, so configuration errors surface at once and clearly.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import ydb

from resources.protocol import SourceUnavailableError, error_text
from resources.ydb.errors import YdbConfigError, YdbQueryError

UNAVAILABLE = (
    ydb.issues.Unavailable, ydb.issues.ConnectionError, ydb.issues.DeadlineExceed, ydb.issues.Overloaded,
    ydb.issues.Timeout, ydb.issues.SessionPoolEmpty, ydb.issues.Undetermined, ydb.issues.Aborted,
    ydb.issues.BadSession, ydb.issues.SessionExpired, ydb.issues.Cancelled, ydb.issues.Unauthenticated,
)


class YdbSettings(Protocol):
    """What connecting needs (the fields of YdbResource)."""

    endpoint: str
    database: str
    auth: str
    user: str | None
    password: str
    token: str
    service_account_key_file: str | None
    timeout_s: int

    @property
    def label(self) -> str: ...


def credentials(settings: YdbSettings) -> ydb.Credentials:
    """The SDK credentials object for ``settings.auth``; raises YdbConfigError when a setting it needs is missing."""
    builders = {
        "anonymous": lambda _: ydb.AnonymousCredentials(),
        "static": _static_credentials,
        "token": _token_credentials,
        "service_account_key": _service_account_credentials,
        "metadata": _metadata_credentials,
        "env": lambda _: _environment_credentials(),
    }
    if settings.auth not in builders:
        raise YdbConfigError(f"{settings.label}: unknown auth {settings.auth!r}; use one of {sorted(builders)}")
    return builders[settings.auth](settings)


def _static_credentials(settings: YdbSettings) -> ydb.Credentials:
    if not settings.user:
        raise YdbConfigError(f"{settings.label}: auth 'static' needs user (and the password through password_env)")
    return ydb.StaticCredentials.from_user_password(settings.user, settings.password)


def _token_credentials(settings: YdbSettings) -> ydb.Credentials:
    if not settings.token:
        raise YdbConfigError(f"{settings.label}: auth 'token' needs a token (token_env names the variable)")
    return ydb.AccessTokenCredentials(settings.token)


def _service_account_credentials(settings: YdbSettings) -> ydb.Credentials:
    who = settings.label
    key_file = Path(settings.service_account_key_file).expanduser() if settings.service_account_key_file else None
    if key_file is None:
        raise YdbConfigError(f"{who}: auth 'service_account_key' needs service_account_key_file")
    if not key_file.is_file():
        raise YdbConfigError(f"{who}: service account key file {key_file} does not exist")
    try:
        key = json.loads(key_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise YdbConfigError(f"{who}: service account key file {key_file} is not JSON: {error}") from None
    missing = [k for k in ("id", "private_key") if k not in key]
    if missing or not ({"service_account_id", "user_account_id"} & key.keys()):
        raise YdbConfigError(f"{who}: service account key file {key_file} lacks "
                             f"{missing or ['service_account_id']} (expected the JSON that `yc iam key create` "
                             f"writes)")
    import ydb.iam

    try:
        return ydb.iam.ServiceAccountCredentials.from_file(str(key_file))
    except (AssertionError, ImportError) as error:
        raise YdbConfigError(f"{who}: auth 'service_account_key' needs the ydb[yc] extra "
                             f"(yandexcloud, pyjwt) installed: {error}") from None


def _environment_credentials() -> ydb.Credentials:
    """``ydb.credentials_from_env_variables()``, except that ydb 3.33.2 fails on its static branch
    (``YDB_USER``: UnboundLocalError inside the SDK), so that one case is built here the same way."""
    if os.getenv("YDB_SERVICE_ACCOUNT_KEY_FILE_CREDENTIALS") is None and os.getenv("YDB_USER") is not None:
        return ydb.StaticCredentials.from_user_password(os.environ["YDB_USER"], os.getenv("YDB_PASSWORD", ""))
    return ydb.credentials_from_env_variables()


def _metadata_credentials(settings: YdbSettings) -> ydb.Credentials:
    import ydb.iam

    try:
        return ydb.iam.MetadataUrlCredentials()
    except ImportError as error:
        raise YdbConfigError(f"{settings.label}: auth 'metadata' needs the requests package: {error}") from None


def driver_config(settings: YdbSettings) -> ydb.DriverConfig:
    if not re.match(r"^grpcs?://[^/]+$", settings.endpoint):
        raise YdbConfigError(f"{settings.label}: endpoint must look like grpc://host:port or grpcs://host:port, "
                             f"got {settings.endpoint!r}")
    if not settings.database.startswith("/"):
        raise YdbConfigError(f"{settings.label}: database must be a path starting with '/', "
                             f"got {settings.database!r}")
    return ydb.DriverConfig(endpoint=settings.endpoint, database=settings.database,
                            credentials=credentials(settings), discovery_request_timeout=settings.timeout_s)


def retry_settings(timeout_s: int) -> ydb.RetrySettings:
    """Reads are idempotent, so the SDK may retry every retriable error (with its own backoff)."""
    return ydb.RetrySettings(max_retries=5, idempotent=True, max_session_acquire_timeout=timeout_s)


def request_settings(timeout_s: int) -> ydb.BaseRequestSettings:
    return ydb.BaseRequestSettings().with_timeout(timeout_s)


def _query_settings() -> ydb.QueryClientSettings:
    """Dates and times as Python objects, JSON kept as the text the server holds (not re-serialized)."""
    return ydb.QueryClientSettings().with_native_json_in_result_sets(False)


def scrub(settings: YdbSettings, error: BaseException) -> str:
    """The error's whole message on one line, password and token redacted, at most 500 characters."""
    return error_text(error, settings.password, settings.token, whole=True, limit=500)


@contextmanager
def connected(settings: YdbSettings, action: str) -> Iterator[tuple[ydb.Driver, ydb.QuerySessionPool]]:
    """A driver and a small session pool for one operation (``action`` names it in errors), stopped after."""
    driver = ydb.Driver(driver_config=driver_config(settings))
    pool = None
    try:
        try:
            driver.wait(timeout=settings.timeout_s, fail_fast=True)
        except Exception as error:  # noqa: BLE001 - the SDK raises several types for one cause: no connection
            raise SourceUnavailableError(
                f"{settings.label}: cannot connect to {settings.endpoint} database {settings.database} within "
                f"{settings.timeout_s} s to {action}: {scrub(settings, error)}") from None
        pool = ydb.QuerySessionPool(driver, size=2, query_client_settings=_query_settings())
        yield driver, pool
    except UNAVAILABLE as error:
        raise SourceUnavailableError(f"{settings.label}: {settings.endpoint}{settings.database} did not answer "
                                     f"while trying to {action}: {scrub(settings, error)}") from None
    except ydb.Error as error:
        raise YdbQueryError(f"{settings.label}: could not {action} in {settings.database}: "
                            f"{scrub(settings, error)}") from None
    finally:
        if pool is not None:
            pool.stop(timeout=settings.timeout_s)
        driver.stop(timeout=settings.timeout_s)


def run(pool: ydb.QuerySessionPool, query: str, parameters: dict[str, Any], timeout_s: int) -> list[Any]:
    """The rows of every result set of ``query``, run through the SDK's retrying pool."""
    result_sets = pool.execute_with_retries(query, parameters, retry_settings=retry_settings(timeout_s),
                                            settings=request_settings(timeout_s))
    return [row for result_set in result_sets for row in result_set.rows]
