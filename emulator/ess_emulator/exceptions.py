"""Every error the emulator answers, one class per API error code (like moto's `exceptions.py`).

Each is raised wherever the rule lives and answered by `server.py` as
`{"Response": {"Error": {"Code": code, "Message": message}, "RequestId": ...}}` with HTTP 200.
A class without a fixed message takes one as its argument.
"""

from __future__ import annotations


class EssError(Exception):
    """A documented API error: `code` is the API's error code, `message` the text sent with it."""

    code = "InternalError"
    message = ""

    def __init__(self, message: str | None = None) -> None:
        if message is not None:
            self.message = message
        super().__init__(f"{self.code}: {self.message}")


# ----------------------------------------------------------------- gateway: transport and authentication
class InvalidAuthorization(EssError):
    code = "AuthFailure.InvalidAuthorization"


class SignatureExpire(EssError):
    code = "AuthFailure.SignatureExpire"
    message = "签名过期,请求时间与服务器时间相差超过5分钟"


class SecretIdNotFound(EssError):
    code = "AuthFailure.SecretIdNotFound"
    message = "密钥不存在"


class SignatureFailure(EssError):
    code = "AuthFailure.SignatureFailure"
    message = "签名错误"


class RequestLimitExceeded(EssError):
    code = "RequestLimitExceeded"
    message = "请求频率超过限制"


class RequestSizeLimitExceeded(EssError):
    code = "RequestSizeLimitExceeded"
    message = "请求包超过10MB"


class InternalError(EssError):
    code = "InternalError.System"
    message = "系统错误,请稍后重试"


class InvalidAction(EssError):
    code = "InvalidAction"


class NoSuchVersion(EssError):
    code = "NoSuchVersion"


# ----------------------------------------------------------------- parameters
class MissingParameter(EssError):
    code = "MissingParameter"


class MissingOrganizationId(EssError):
    code = "MissingParameter.OrganizationId"


class MissingSealName(EssError):
    code = "MissingParameter.SealName"
    message = "缺少参数 SealName"


class MissingSealImage(EssError):
    code = "MissingParameter.SealImage"
    message = "缺少参数 SealImage"


class InvalidParameter(EssError):
    code = "InvalidParameter"


class ParamError(EssError):
    code = "InvalidParameter.ParamError"


class InvalidImage(EssError):
    code = "InvalidParameter.Image"


class SealNameTooLong(EssError):
    code = "InvalidParameter.LimitSealName"
    message = "印章名称长度超出50个字符"


class UnknownParameter(EssError):
    code = "UnknownParameter"

    def __init__(self, name: str) -> None:
        super().__init__(f"参数 {name} 未定义")


# ----------------------------------------------------------------- resources and state
class OperatorHasNoPermission(EssError):
    code = "OperationDenied.OperatorHasNoPermission"
    message = "经办人没有印章查询权限"


class OrganizationClosing(EssError):
    code = "OperationDenied.OrganizationClosing"
    message = "企业注销中,无法操作"


class FailedOperation(EssError):
    code = "FailedOperation"


class OrganizationNotFound(EssError):
    code = "ResourceNotFound.Organization"
    message = "子客企业不存在或未完成实名认证"


class ApplicationNotFound(EssError):
    code = "ResourceNotFound.Application"
    message = "应用号不存在"


class OperatorNotFound(EssError):
    code = "ResourceNotFound.VerifyUser"
    message = "经办人不存在或未完成实名认证"


class SealNotFound(EssError):
    code = "ResourceNotFound"
    message = "印章不存在"


class SealNameExists(EssError):
    code = "FailedOperation.ExistSameSealName"
    message = "存在同名印章"


class OfficialSealExists(EssError):
    code = "OperationDenied.AlreadyHas"
    message = "企业已存在公章"
