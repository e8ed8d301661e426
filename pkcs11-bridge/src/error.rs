//! HSM errors: every PKCS#11 failure keeps its return value and the function
//! that failed, and the variants say which ones the bridge recovers from.

use cryptoki::context::Function;
use cryptoki::error::{Error as CkError, RvError};

/// Errors of the HSM bridge. Messages never contain the PIN.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HsmError {
    /// The PKCS#11 module could not be loaded (missing file, not a PKCS#11 library).
    #[error("cannot load PKCS#11 module {module}: {reason}")]
    ModuleLoad {
        /// Path of the module.
        module: String,
        /// Why loading failed.
        reason: String,
    },
    /// No slot holds a token with the configured label.
    #[error("no PKCS#11 token labelled {label:?} (tokens present: {present})")]
    TokenNotFound {
        /// The label looked for.
        label: String,
        /// Labels of the tokens that are present.
        present: String,
    },
    /// The token refused the user PIN.
    #[error("the token refused the user PIN ({rv})")]
    BadPin {
        /// PKCS#11 return value (CKR_PIN_INCORRECT, CKR_PIN_LOCKED, ...).
        rv: RvError,
    },
    /// No key with this label or id exists on the token.
    #[error("no key {0} on the token")]
    KeyNotFound(String),
    /// A key with this label already exists (refusing to create a duplicate).
    #[error("a key labelled {0} already exists on the token")]
    KeyExists(String),
    /// The token returned a public key or signature that is not valid P-256 material.
    #[error("the token returned invalid {what}")]
    InvalidTokenData {
        /// What was malformed.
        what: &'static str,
    },
    /// A PKCS#11 call failed.
    #[error("PKCS#11 {function} failed: {rv}")]
    Pkcs11 {
        /// The failing function.
        function: Function,
        /// Its return value.
        rv: RvError,
    },
    /// Another cryptoki-level failure (conversion, missing symbol, ...).
    #[error("PKCS#11 error: {0}")]
    Other(String),
}

impl HsmError {
    /// True when the HSM (not the caller) is at fault and a later retry may
    /// succeed: the service maps these to 503 with Retry-After.
    pub fn is_unavailable(&self) -> bool {
        match self {
            HsmError::Pkcs11 { rv, .. } => recovery(*rv) != Recovery::None,
            HsmError::Other(_) => true,
            _ => false,
        }
    }
}

impl From<CkError> for HsmError {
    fn from(e: CkError) -> Self {
        match e {
            CkError::Pkcs11(rv, function) => HsmError::Pkcs11 { function, rv },
            other => HsmError::Other(other.to_string()),
        }
    }
}

/// What the bridge does about a failed call before retrying it once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recovery {
    /// Not recoverable here: report it.
    None,
    /// The session is gone: drop it (without closing) and open another.
    NewSession,
    /// The token is logged out: log in again.
    Login,
    /// The module was finalised (or the device vanished): initialise it again,
    /// find the slot again, drop every pooled session.
    Reinitialise,
    /// A cached object handle is stale: look the key up again.
    FindKey,
}

pub(crate) fn recovery(rv: RvError) -> Recovery {
    match rv {
        RvError::SessionHandleInvalid | RvError::SessionClosed => Recovery::NewSession,
        RvError::UserNotLoggedIn => Recovery::Login,
        RvError::CryptokiNotInitialized
        | RvError::DeviceRemoved
        | RvError::TokenNotPresent
        | RvError::DeviceError
        | RvError::SlotIdInvalid => Recovery::Reinitialise,
        RvError::ObjectHandleInvalid | RvError::KeyHandleInvalid => Recovery::FindKey,
        _ => Recovery::None,
    }
}

pub(crate) fn recovery_of(e: &HsmError) -> Recovery {
    match e {
        HsmError::Pkcs11 { rv, .. } => recovery(*rv),
        _ => Recovery::None,
    }
}
