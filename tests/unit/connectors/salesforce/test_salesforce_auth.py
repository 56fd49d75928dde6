"""Login flows, session renewal and TLS settings of the Salesforce connector, over `responses`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs

import jwt
import pytest
import responses
from pydantic import ValidationError
from sf_fakes import API, INSTANCE, LOGIN, TOKEN_URL, token_ok

from kam_sync.errors import AuthError, ConfigError
from kam_sync_connectors.salesforce import auth
from kam_sync_connectors.salesforce.client import SalesforceClient
from kam_sync_connectors.salesforce.settings import SalesforceSettings

LIMITS = {"DailyApiRequests": {"Max": 100000, "Remaining": 99000}}


def form(call: responses.Call) -> dict[str, str]:
    body = call.request.body
    text = body.decode() if isinstance(body, bytes) else str(body)
    return {k: v[0] for k, v in parse_qs(text).items()}


def test_jwt_bearer_flow_signs_an_assertion_for_the_integration_user(
    mocked: responses.RequestsMock,
    make_client: Callable[..., SalesforceClient],
    rsa_key: tuple[Path, bytes],
) -> None:
    token_ok(mocked)
    mocked.get(f"{API}/limits/", json=LIMITS)
    client = make_client(auth="jwt")

    client.json_call("limits", "GET", "limits/")

    sent = form(mocked.calls[0])
    assert sent["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims = jwt.decode(
        sent["assertion"], rsa_key[1], algorithms=["RS256"], audience="https://login.salesforce.com"
    )
    assert claims["iss"] == "3MVG9-consumer-key"
    assert claims["sub"] == "integration@acme.example"
    assert mocked.calls[1].request.headers["Authorization"] == "Bearer 00Dtoken-1"
    assert client.grant.user_id == "005000000000001AAA"


def test_jwt_audience_is_test_salesforce_for_a_sandbox_my_domain(
    mocked: responses.RequestsMock,
    make_client: Callable[..., SalesforceClient],
    rsa_key: tuple[Path, bytes],
) -> None:
    my_domain = "https://acme--uat.sandbox.my.salesforce.com"
    mocked.post(
        f"{my_domain}/services/oauth2/token",
        json={"access_token": "t", "instance_url": INSTANCE},
    )
    mocked.get(f"{API}/limits/", json=LIMITS)
    client = make_client(auth="jwt", login_url=my_domain)

    client.json_call("limits", "GET", "limits/")

    assertion = form(mocked.calls[0])["assertion"]
    assert jwt.decode(assertion, options={"verify_signature": False})["aud"] == (
        "https://test.salesforce.com"
    )


def test_client_credentials_flow_posts_to_the_configured_my_domain(
    mocked: responses.RequestsMock, make_client: Callable[..., SalesforceClient]
) -> None:
    my_domain = "https://acme.my.salesforce.com"
    mocked.post(
        f"{my_domain}/services/oauth2/token",
        json={"access_token": "cc-token", "instance_url": INSTANCE},
    )
    mocked.get(f"{API}/limits/", json=LIMITS)
    client = make_client(auth="client_credentials", login_url=my_domain)

    client.json_call("limits", "GET", "limits/")

    assert form(mocked.calls[0]) == {
        "grant_type": "client_credentials",
        "client_id": "3MVG9-consumer-key",
        "client_secret": "s3cret-client-secret",
    }
    assert mocked.calls[1].request.headers["Authorization"] == "Bearer cc-token"


def test_password_flow_appends_the_security_token_to_the_password(
    mocked: responses.RequestsMock, make_client: Callable[..., SalesforceClient]
) -> None:
    token_ok(mocked)
    mocked.get(f"{API}/limits/", json=LIMITS)
    client = make_client(auth="password")

    client.json_call("limits", "GET", "limits/")

    sent = form(mocked.calls[0])
    assert sent["grant_type"] == "password"
    assert sent["username"] == "integration@acme.example"
    assert sent["password"] == "hunter2-passwordTOKEN123"


def test_a_ready_session_id_is_used_without_logging_in(
    mocked: responses.RequestsMock, make_client: Callable[..., SalesforceClient]
) -> None:
    mocked.get(f"{API}/limits/", json=LIMITS)
    client = make_client(
        env={"KAM_SYNC_SF_SESSION_ID": "00Dsession"}, auth="session", instance_url=INSTANCE
    )

    client.json_call("limits", "GET", "limits/")

    assert len(mocked.calls) == 1
    assert mocked.calls[0].request.headers["Authorization"] == "Bearer 00Dsession"


def test_missing_credentials_name_every_missing_variable_before_any_request(
    mocked: responses.RequestsMock, make_client: Callable[..., SalesforceClient]
) -> None:
    client = make_client(env={"KAM_SYNC_SF_CLIENT_ID": "x"}, auth="password")

    with pytest.raises(AuthError) as caught:
        client.json_call("limits", "GET", "limits/")

    message = str(caught.value)
    for name in ("KAM_SYNC_SF_CLIENT_SECRET", "KAM_SYNC_SF_USERNAME", "KAM_SYNC_SF_PASSWORD"):
        assert name in message
    assert len(mocked.calls) == 0


def test_a_refused_login_is_an_auth_error_that_shows_no_secret(
    mocked: responses.RequestsMock, make_client: Callable[..., SalesforceClient]
) -> None:
    mocked.post(
        TOKEN_URL,
        status=400,
        json={"error": "invalid_grant", "error_description": "authentication failure"},
    )
    client = make_client(auth="password")

    with pytest.raises(AuthError) as caught:
        client.json_call("limits", "GET", "limits/")

    message = str(caught.value)
    assert "invalid_grant" in message
    assert "hunter2" not in message and "s3cret" not in message and "TOKEN123" not in message
    assert len(mocked.calls) == 1


def test_an_expired_session_is_renewed_once_and_the_call_goes_through(
    mocked: responses.RequestsMock, make_client: Callable[..., SalesforceClient]
) -> None:
    token_ok(mocked, "first")
    expired = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    mocked.get(f"{API}/limits/", status=401, json=expired)
    mocked.get(f"{API}/limits/", json=LIMITS)
    client = make_client(auth="jwt")
    client.sf  # log in with the first token  # noqa: B018
    mocked.replace(
        responses.POST, TOKEN_URL, json={"access_token": "second", "instance_url": INSTANCE}
    )

    assert client.json_call("limits", "GET", "limits/") == LIMITS

    assert [c.request.url.split("/")[-2] for c in mocked.calls] == [
        "oauth2",
        "limits",
        "oauth2",
        "limits",
    ]
    assert mocked.calls[3].request.headers["Authorization"] == "Bearer second"
    assert client.ledger.by_kind["auth"] == 2


def test_a_session_rejected_again_after_renewal_is_a_clear_auth_error(
    mocked: responses.RequestsMock, make_client: Callable[..., SalesforceClient]
) -> None:
    token_ok(mocked)
    expired = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    mocked.get(f"{API}/limits/", status=401, json=expired)
    client = make_client(auth="jwt")

    with pytest.raises(AuthError, match="INVALID_SESSION_ID"):
        client.json_call("limits", "GET", "limits/")

    assert client.ledger.by_kind["auth"] == 2
    assert client.ledger.by_kind["limits"] == 2


def test_an_expired_ready_session_asks_for_a_fresh_session_id(
    mocked: responses.RequestsMock, make_client: Callable[..., SalesforceClient]
) -> None:
    expired = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    mocked.get(f"{API}/limits/", status=401, json=expired)
    client = make_client(
        env={"KAM_SYNC_SF_SESSION_ID": "00Dsession"}, auth="session", instance_url=INSTANCE
    )

    with pytest.raises(AuthError, match="KAM_SYNC_SF_SESSION_ID"):
        client.json_call("limits", "GET", "limits/")


def test_the_configured_ca_bundle_wins_over_requests_ca_bundle_and_every_call_has_a_timeout(
    mocked: responses.RequestsMock,
    make_client: Callable[..., SalesforceClient],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    bundle = tmp_path / "corporate-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "other.pem"))
    token_ok(mocked)
    mocked.get(f"{API}/limits/", json=LIMITS)
    client = make_client(auth="jwt", ca_bundle=bundle, timeout_seconds=12.5)

    client.json_call("limits", "GET", "limits/")

    for call in mocked.calls:
        assert call.request.req_kwargs["verify"] == str(bundle)
        assert call.request.req_kwargs["timeout"] == 12.5


def test_tls_verification_cannot_be_turned_off(
    make_client: Callable[..., SalesforceClient],
) -> None:
    client = make_client(auth="jwt")

    with pytest.raises(ConfigError, match="TLS verification"):
        client.http.get(f"{LOGIN}/", verify=False)


def test_the_password_flow_logs_its_deprecation_once(
    mocked: responses.RequestsMock,
    make_client: Callable[..., SalesforceClient],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(auth, "_password_flow_warned", False)
    token_ok(mocked)
    token_ok(mocked)
    client = make_client(auth="password")

    with caplog.at_level(logging.WARNING):
        client.grant  # noqa: B018 (logs in)
        client.close()
        make_client(auth="password").grant  # noqa: B018 (a second login, another client)

    warnings = [r.message for r in caplog.records if "000886201" in r.message]
    assert warnings == [auth.RETIRED_FLOW_WARNING]


@pytest.mark.parametrize(
    "login_url", ["https://login.salesforce.com", "https://TEST.salesforce.com/"]
)
def test_client_credentials_on_a_generic_login_host_are_refused_with_the_fix(
    login_url: str,
) -> None:
    with pytest.raises(ValidationError) as caught:
        SalesforceSettings(auth="client_credentials", login_url=login_url)

    (error,) = caught.value.errors()
    assert error["loc"] == ("auth",)
    assert (
        "set login_url to your My Domain URL, https://yourcompany.my.salesforce.com"
        in (error["msg"])
    )


def test_client_credentials_with_the_default_login_url_are_refused_too() -> None:
    with pytest.raises(ValidationError, match="My Domain"):
        SalesforceSettings(auth="client_credentials")


def test_other_flows_may_use_the_generic_login_hosts() -> None:
    assert SalesforceSettings(auth="jwt", login_url="https://test.salesforce.com").auth == "jwt"


def test_a_token_endpoint_refusing_the_domain_names_the_fix(
    mocked: responses.RequestsMock, make_client: Callable[..., SalesforceClient]
) -> None:
    my_domain = "https://acme.my.salesforce.com"
    mocked.post(
        f"{my_domain}/services/oauth2/token",
        status=400,
        json={
            "error": "invalid_grant",
            "error_description": "request not supported on this domain",
        },
    )
    client = make_client(auth="client_credentials", login_url=my_domain)

    with pytest.raises(AuthError, match="set login_url to your My Domain URL"):
        client.json_call("limits", "GET", "limits/")
