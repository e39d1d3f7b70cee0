"""ModelArts v2 resource pool API: models, typed errors, authentication, retry policy and the async client.

This subpackage never imports kopf or kubernetes (an import-linter contract keeps it so): it is usable, and
tested, on its own.
"""

from modelarts_operator.modelarts.auth import AkSkAuth, Credentials, TokenAuth
from modelarts_operator.modelarts.client import ModelArtsClient, default_endpoint, make_http_client
from modelarts_operator.modelarts.errors import (
    Forbidden,
    InvalidRequest,
    MalformedResponse,
    ModelArtsError,
    PoolAlreadyExists,
    PoolNotFound,
    ServerError,
    Throttled,
    TransportError,
    Unauthorized,
    error_from_response,
)
from modelarts_operator.modelarts.iam import IamTokenAuth, PasswordIdentity, default_iam_endpoint
from modelarts_operator.modelarts.models import (
    Pool,
    PoolList,
    PoolMetadata,
    PoolPhase,
    PoolResource,
    PoolSpec,
    PoolStatus,
)
from modelarts_operator.modelarts.retry import RetryPolicy

__all__ = [
    "AkSkAuth",
    "Credentials",
    "Forbidden",
    "IamTokenAuth",
    "InvalidRequest",
    "MalformedResponse",
    "ModelArtsClient",
    "ModelArtsError",
    "PasswordIdentity",
    "Pool",
    "PoolAlreadyExists",
    "PoolList",
    "PoolMetadata",
    "PoolNotFound",
    "PoolPhase",
    "PoolResource",
    "PoolSpec",
    "PoolStatus",
    "RetryPolicy",
    "ServerError",
    "Throttled",
    "TokenAuth",
    "TransportError",
    "Unauthorized",
    "default_endpoint",
    "default_iam_endpoint",
    "error_from_response",
    "make_http_client",
]
