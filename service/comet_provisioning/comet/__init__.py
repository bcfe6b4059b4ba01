"""The Comet Server admin API client: per-server connection pools, typed errors, a redacted call log.

Nothing here knows about gRPC or the rest of the service; aiohttp is used only in this package (and
in the simulator).
"""

from .classify import ErrorHints
from .client import CometClient, FormValue, ProfileMutator
from .config import CometServerConfig
from .download import ClientDownload
from .errors import (
    CometApiError,
    CometAuthFailed,
    CometClientClosed,
    CometConnectionLost,
    CometError,
    CometHashConflict,
    CometLockedOut,
    CometNotCometServer,
    CometSecondFactorRequired,
    CometTimeout,
    CometTLSError,
    CometUnreachable,
    CometUserExists,
    CometUserNotFound,
)
from .models import (
    JSONDict,
    MetaVersion,
    NewPolicyResult,
    PolicyAndHash,
    ProfileAndHash,
    SessionKey,
    parse_version,
)
from .observe import CallObserver, CallRecord, NullObserver
from .redact import MASK, redact_form, redact_json
from .registry import CometClientRegistry

__all__ = [
    "MASK",
    "CallObserver",
    "CallRecord",
    "ClientDownload",
    "CometApiError",
    "CometAuthFailed",
    "CometClient",
    "CometClientClosed",
    "CometClientRegistry",
    "CometConnectionLost",
    "CometError",
    "CometHashConflict",
    "CometLockedOut",
    "CometNotCometServer",
    "CometSecondFactorRequired",
    "CometServerConfig",
    "CometTLSError",
    "CometTimeout",
    "CometUnreachable",
    "CometUserExists",
    "CometUserNotFound",
    "ErrorHints",
    "FormValue",
    "JSONDict",
    "MetaVersion",
    "NewPolicyResult",
    "NullObserver",
    "PolicyAndHash",
    "ProfileAndHash",
    "ProfileMutator",
    "SessionKey",
    "parse_version",
    "redact_form",
    "redact_json",
]
