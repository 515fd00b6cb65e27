"""The one classification table: transient codes retry, everything else fails now."""

import pickle

import pytest

from tencent_ess.errors import (
    EssApiError,
    EssValidationError,
    is_rate_limited,
    is_server_error,
    is_transient,
)


@pytest.mark.parametrize(
    "code",
    [
        "RequestLimitExceeded",
        "RequestLimitExceeded.UinLimitExceeded",
        "RequestLimitExceeded.IPLimitExceeded",
        "RequestLimitExceeded.GlobalRegionUinLimitExceeded",
        "InternalError",
        "InternalError.System",
        "InternalError.SealUpload",
        "InternalError.DependsDb",
        "ServiceUnavailable",
        "ClientNetworkError",
        "ServerNetworkError",
    ],
)
def test_transient(code):
    assert is_transient(code)


@pytest.mark.parametrize(
    "code",
    [
        "AuthFailure",
        "AuthFailure.SignatureFailure",
        "AuthFailure.SecretIdNotFound",
        "AuthFailure.SignatureExpire",
        "InvalidParameter.ParamError",
        "InvalidParameter.Image",
        "InvalidParameter.LimitSealName",
        "MissingParameter.SealImage",
        "FailedOperation.ExistSameSealName",
        "OperationDenied.AlreadyHas",
        "ResourceNotFound",
        "ResourceNotFound.Organization",
        "ResourceNotFound.VerifyUser",
        "InvalidAction",
        "NoSuchVersion",
        "RequestSizeLimitExceeded",
        "UnauthorizedOperation.NoPermissionFeature",
        "LimitExceeded",
        "RequestLimitExceededX",  # a prefix match must stop at the dot
    ],
)
def test_permanent(code):
    assert not is_transient(code)


def test_server_errors_are_the_transient_ones_neither_network_nor_rate_limit():
    assert is_server_error("InternalError.System") and is_server_error("ServiceUnavailable")
    assert not is_server_error("ClientNetworkError") and not is_server_error("ServerNetworkError")
    assert not is_server_error("RequestLimitExceeded.UinLimitExceeded") and is_rate_limited("RequestLimitExceeded")
    assert not is_server_error("InvalidParameter.ParamError")


def test_api_error_message_names_code_request_id_and_action_and_pickles():
    err = EssApiError("CreateSealByImage", "InvalidParameter.Image", "图片不正确", "req-123")
    assert "CreateSealByImage" in str(err) and "InvalidParameter.Image" in str(err) and "req-123" in str(err)
    assert not err.transient
    clone = pickle.loads(pickle.dumps(err))
    assert (clone.code, clone.request_id, clone.transient) == ("InvalidParameter.Image", "req-123", False)
    assert str(pickle.loads(pickle.dumps(EssValidationError("seal_name", "too long")))) == "seal_name: too long"
