"""Huawei-style error answers: ``{"error_code": "...", "error_msg": "..."}`` with an HTTP status."""

from __future__ import annotations

# ModelArts codes, from modelarts-api.md section 6.
BAD_REQUEST = "ModelArts.50004000"
CONTENT_TYPE_NOT_SUPPORTED = "ModelArts.50004100"
POOL_ALREADY_EXISTS = "ModelArts.50015000"
POOL_NOT_FOUND = "ModelArts.50015001"
INTERNAL_ERROR = "ModelArts.50005000"
# API gateway codes (the gateway in front of ModelArts answers these before ModelArts sees the request); codes and
# messages from Huawei's API request signing guide and APIG error code table (modelarts-api.md section 10).
GATEWAY_AUTH_FAILED = "APIGW.0301"
GATEWAY_NO_SUCH_API = "APIGW.0101"
GATEWAY_THROTTLED = "APIGW.0308"
GATEWAY_AUTH_PREFIX = "Incorrect IAM authentication information: "
GATEWAY_LOCKED_MSG = GATEWAY_AUTH_PREFIX + "AK access failed to reach the limit,forbidden."
# Emulator choices where no public source names a code (documented in docs/emulator.md).
PROJECT_MISMATCH = "ModelArts.0203"
DELETION_REFUSED = "ModelArts.50015002"
PREPAID_DELETE_MSG = (
    "The pool is billed yearly/monthly and cannot be deleted with this API: "
    "unsubscribe it in the Billing Center (Orders > Unsubscriptions)."
)
BEING_DELETED_MSG = "The pool is being deleted."


class ApiError(Exception):
    """An answer other than success; the API layer turns it into the JSON error body."""

    def __init__(self, status: int, error_code: str, error_msg: str) -> None:
        super().__init__(f"{status} {error_code}: {error_msg}")
        self.status = status
        self.error_code = error_code
        self.error_msg = error_msg


def bad_request(message: str) -> ApiError:
    return ApiError(400, BAD_REQUEST, message)


def pool_not_found() -> ApiError:
    return ApiError(404, POOL_NOT_FOUND, "pool not found")


def throttled_msg(limit: int) -> str:
    """The gateway's words for a user over its per-minute limit."""
    return f"The throttling threshold has been reached: policy user over ratelimit,limit:{limit},time:1 minute"


def unknown_access_key_msg(access_key: str) -> str:
    """The gateway echoes the access key ID it could not find (never a secret key): redaction must cope."""
    return f"{GATEWAY_AUTH_PREFIX}Get secretKey failed,ak:{access_key},err:ak not exist"


def default_error_code(status: int) -> str:
    """The code a fault answers with when the test did not choose one."""
    if status == 429:
        return GATEWAY_THROTTLED
    if status == 401:
        return GATEWAY_AUTH_FAILED
    if status == 404:
        return POOL_NOT_FOUND
    if status >= 500:
        return INTERNAL_ERROR
    return BAD_REQUEST


def default_error_msg(status: int) -> str:
    if status == 429:
        return throttled_msg(100)
    if status == 401:
        return GATEWAY_AUTH_PREFIX + "verify aksk signature fail"
    if status == 404:
        return "pool not found"
    if status >= 500:
        return "Internal server error (injected by the emulator)."
    return "Bad request (injected by the emulator)."
