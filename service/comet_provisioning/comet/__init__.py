"""The Comet Server admin API client: per-server connection pools, typed errors, a redacted call log.

Nothing here knows about gRPC or the rest of the service; aiohttp is used only in this package (and
in the simulator), behind the ``Transport`` seam, so tests can run the real client on an in-memory fake.
"""

from .aiohttp_transport import AiohttpTransport
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
    RequestedVault,
    SessionKey,
    UpdatedProfile,
    parse_version,
)
from .observe import CallObserver, CallRecord, CallTiming, NullObserver
from .redact import MASK, redact_form, redact_json
from .registry import CometClientRegistry
from .server_info import ServerInfo
from .transport import (
    ConnectFailed,
    ConnectionBroken,
    StreamReply,
    TLSFailed,
    Transport,
    TransportError,
    TransportReply,
    TransportRequest,
    TransportTimeout,
)
from .version import CometVersion

__all__ = [
    "MASK",
    "AiohttpTransport",
    "CallObserver",
    "CallRecord",
    "CallTiming",
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
    "CometVersion",
    "ConnectFailed",
    "ConnectionBroken",
    "ErrorHints",
    "FormValue",
    "JSONDict",
    "MetaVersion",
    "NewPolicyResult",
    "NullObserver",
    "PolicyAndHash",
    "ProfileAndHash",
    "ProfileMutator",
    "RequestedVault",
    "ServerInfo",
    "SessionKey",
    "StreamReply",
    "TLSFailed",
    "Transport",
    "TransportError",
    "TransportReply",
    "TransportRequest",
    "TransportTimeout",
    "UpdatedProfile",
    "parse_version",
    "redact_form",
    "redact_json",
]
