//! The token connection: module loading, token lookup by label, login, a pool
//! of logged-in sessions shared by many threads, and recovery when the
//! token's sessions become invalid (closed, logged out, module finalised).
//!
//! Recovery rules (DESIGN.md, HSM rules): a dead session is dropped and a new
//! one opened; a logged-out token is logged in again (CKR_USER_ALREADY_LOGGED_IN
//! counts as success because login is token-wide); a finalised module is
//! initialised again and every pooled session forgotten; a stale object handle
//! is looked up again. Each failed call is retried a bounded number of times.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::object::ObjectHandle;
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;

use crate::error::{HsmError, Recovery, recovery_of};
use crate::pin::Pin;

/// How many times one operation is attempted before its error is returned.
/// Four covers the longest chain of recoveries: a stale handle, then a
/// logged-out token, then a finalised module, then success.
const ATTEMPTS: usize = 4;

/// Where the token is and how to log in to it.
#[derive(Debug, Clone)]
pub struct HsmConfig {
    /// Path of the PKCS#11 module (`WALLET_PKCS11_MODULE`).
    pub module: PathBuf,
    /// Label of the token to use (`WALLET_TOKEN_LABEL`).
    pub token_label: String,
    /// The user PIN.
    pub pin: Pin,
}

/// Which kind of object a cached handle refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ObjectKind {
    Private,
    Public,
    Secret,
}

#[derive(Debug)]
struct TokenState {
    slot: Slot,
    /// Bumped whenever the module is re-initialised; sessions of an older
    /// generation are dead and must not even be closed (their handle numbers
    /// may now belong to someone else's session).
    generation: u64,
}

struct PooledSession {
    session: Session,
    generation: u64,
}

/// A logged-in connection to one token, safe to share between threads
/// (`Arc<Hsm>`). All methods block.
pub struct Hsm {
    config: HsmConfig,
    ctx: Pkcs11,
    state: Mutex<TokenState>,
    pool: Mutex<Vec<PooledSession>>,
    /// Object handles by (kind, label), with the module generation they were
    /// found in: a handle from before a re-initialisation may name another object.
    handles: Mutex<HashMap<(ObjectKind, String), (u64, ObjectHandle)>>,
    signatures: AtomicU64,
}

impl std::fmt::Debug for Hsm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hsm")
            .field("module", &self.config.module)
            .field("token_label", &self.config.token_label)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks cannot leave the data
    // half-updated (each critical section is a single insert/remove/swap), so
    // a poisoned lock is still usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Hsm {
    /// Loads the module, finds the token by label and logs in once to check
    /// the PIN. Errors name the problem (missing module, unknown label, wrong
    /// PIN) without the PIN.
    pub fn open(config: HsmConfig) -> Result<Self, HsmError> {
        if !config.module.exists() {
            return Err(HsmError::ModuleLoad {
                module: config.module.display().to_string(),
                reason: "no such file".into(),
            });
        }
        let ctx = Pkcs11::new(&config.module).map_err(|e| HsmError::ModuleLoad {
            module: config.module.display().to_string(),
            reason: e.to_string(),
        })?;
        initialise(&ctx)?;
        let slot = find_slot(&ctx, &config.token_label)?;
        let hsm = Self {
            config,
            ctx,
            state: Mutex::new(TokenState {
                slot,
                generation: 0,
            }),
            pool: Mutex::new(Vec::new()),
            handles: Mutex::new(HashMap::new()),
            signatures: AtomicU64::new(0),
        };
        let (session, generation) = hsm.open_session()?;
        lock(&hsm.pool).push(PooledSession {
            session,
            generation,
        });
        Ok(hsm)
    }

    /// The configuration this connection was opened with.
    pub fn config(&self) -> &HsmConfig {
        &self.config
    }

    /// Readiness probe: takes a pooled session (re-opening and logging in as
    /// needed) and asks the token about it.
    pub fn check(&self) -> Result<(), HsmError> {
        self.with_session(|_, session| {
            if logged_in(session)? {
                Ok(())
            } else {
                Err(HsmError::Pkcs11 {
                    function: cryptoki::context::Function::GetSessionInfo,
                    rv: RvError::UserNotLoggedIn,
                })
            }
        })
    }

    /// ECDSA signatures this connection has made (for metrics, and for tests
    /// that prove something was never signed).
    pub fn signatures_made(&self) -> u64 {
        self.signatures.load(Ordering::Relaxed)
    }

    pub(crate) fn count_signature(&self) {
        self.signatures.fetch_add(1, Ordering::Relaxed);
    }

    /// Number of idle sessions in the pool (for metrics and tests).
    pub fn idle_sessions(&self) -> usize {
        lock(&self.pool).len()
    }

    /// Runs `op` with a logged-in session from the pool, recovering from
    /// invalid sessions, a logged-out token, a finalised module and stale
    /// object handles, and retrying.
    pub(crate) fn with_session<T>(
        &self,
        op: impl Fn(&Self, &Session) -> Result<T, HsmError>,
    ) -> Result<T, HsmError> {
        let mut last_err = None;
        for _ in 0..ATTEMPTS {
            let (session, generation) = match self.checkout() {
                Ok(s) => s,
                Err(e) => {
                    let how = recovery_of(&e);
                    if how == Recovery::None {
                        return Err(e);
                    }
                    self.recover(how, None, self.current_generation())?;
                    last_err = Some(e);
                    continue;
                }
            };
            match op(self, &session) {
                Ok(v) => {
                    self.checkin(session, generation);
                    return Ok(v);
                }
                Err(e) => {
                    let how = recovery_of(&e);
                    if how == Recovery::None {
                        self.checkin(session, generation);
                        return Err(e);
                    }
                    tracing::warn!(error = %e, recovery = ?how, "HSM call failed; recovering");
                    self.recover(how, Some((session, generation)), generation)?;
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.unwrap_or(HsmError::Other("HSM operation not attempted".into())))
    }

    fn recover(
        &self,
        how: Recovery,
        session: Option<(Session, u64)>,
        generation: u64,
    ) -> Result<(), HsmError> {
        match how {
            Recovery::None => {
                if let Some((s, g)) = session {
                    self.checkin(s, g);
                }
            }
            // Forget the session: closing a dead handle could close a live
            // session that reused the number.
            Recovery::NewSession => drop(session),
            Recovery::Login => {
                if let Some((s, g)) = session {
                    self.login(&s)?;
                    self.checkin(s, g);
                }
            }
            Recovery::FindKey => {
                lock(&self.handles).clear();
                if let Some((s, g)) = session {
                    self.checkin(s, g);
                }
            }
            Recovery::Reinitialise => {
                drop(session);
                self.reinitialise(generation)?;
            }
        }
        Ok(())
    }

    fn current_generation(&self) -> u64 {
        lock(&self.state).generation
    }

    fn checkout(&self) -> Result<(Session, u64), HsmError> {
        let current = self.current_generation();
        loop {
            let pooled = lock(&self.pool).pop();
            match pooled {
                Some(p) if p.generation == current => return Ok((p.session, p.generation)),
                Some(_stale) => continue,
                None => return self.open_session(),
            }
        }
    }

    fn checkin(&self, session: Session, generation: u64) {
        if generation == self.current_generation() {
            lock(&self.pool).push(PooledSession {
                session,
                generation,
            });
        }
    }

    fn open_session(&self) -> Result<(Session, u64), HsmError> {
        let (slot, generation) = {
            let st = lock(&self.state);
            (st.slot, st.generation)
        };
        // Sessions are opened "no drop": the pool decides when a session is
        // closed, and a session from before a re-initialisation is never closed.
        let session = self.ctx.open_rw_session_no_drop(slot)?;
        if let Err(e) = self.login(&session) {
            let _ = session.close();
            return Err(e);
        }
        Ok((session, generation))
    }

    fn login(&self, session: &Session) -> Result<(), HsmError> {
        match session.login(UserType::User, Some(self.config.pin.secret())) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
            Err(CkError::Pkcs11(
                rv @ (RvError::PinIncorrect
                | RvError::PinLocked
                | RvError::PinInvalid
                | RvError::PinLenRange),
                _,
            )) => Err(HsmError::BadPin { rv }),
            Err(e) => Err(e.into()),
        }
    }

    fn reinitialise(&self, seen_generation: u64) -> Result<(), HsmError> {
        let mut st = lock(&self.state);
        if st.generation != seen_generation {
            // Another thread already did it while we waited for the lock.
            return Ok(());
        }
        tracing::warn!(token = %self.config.token_label, "re-initialising the PKCS#11 module");
        // Close the pooled sessions before C_Initialize, while their handles
        // still mean what they meant: if the module was finalised this fails
        // harmlessly; if only the device hiccuped it avoids leaking them.
        // After re-initialisation they must never be closed (handle reuse).
        for p in lock(&self.pool).drain(..) {
            let _ = p.session.close();
        }
        lock(&self.handles).clear();
        initialise(&self.ctx)?;
        st.slot = find_slot(&self.ctx, &self.config.token_label).map_err(|e| match e {
            // The token was there at start: its absence now is an outage
            // (503 and retry), not a configuration error.
            HsmError::TokenNotFound { .. } => HsmError::Pkcs11 {
                function: cryptoki::context::Function::GetSlotList,
                rv: RvError::TokenNotPresent,
            },
            other => other,
        })?;
        st.generation += 1;
        Ok(())
    }

    /// Handle of the object of `kind` labelled `label`, cached across calls.
    pub(crate) fn object(
        &self,
        session: &Session,
        kind: ObjectKind,
        label: &str,
    ) -> Result<ObjectHandle, HsmError> {
        let generation = self.current_generation();
        let cached = lock(&self.handles).get(&(kind, label.to_owned())).copied();
        if let Some((g, h)) = cached
            && g == generation
        {
            return Ok(h);
        }
        let found = crate::keys::find_objects(session, kind, label)?;
        let handle = match found.as_slice() {
            [h] => *h,
            // Private objects are invisible to a session whose token was
            // logged out underneath it; that is a login problem, not a
            // missing key.
            [] if kind != ObjectKind::Public && !logged_in(session)? => {
                return Err(HsmError::Pkcs11 {
                    function: cryptoki::context::Function::FindObjects,
                    rv: RvError::UserNotLoggedIn,
                });
            }
            [] => return Err(HsmError::KeyNotFound(label.to_owned())),
            _ => {
                return Err(HsmError::Other(format!(
                    "{} objects labelled {label} on the token",
                    found.len()
                )));
            }
        };
        // Cache it only if no re-initialisation happened while we looked.
        if self.current_generation() == generation {
            lock(&self.handles).insert((kind, label.to_owned()), (generation, handle));
        }
        Ok(handle)
    }

    /// Forgets cached handles for `label` (after the key was created or destroyed).
    pub(crate) fn forget(&self, label: &str) {
        lock(&self.handles).retain(|(_, l), _| l != label);
    }

    /// Test hook for recovery: finalises the module under every pooled
    /// session, as another library user or a crashed module would. The next
    /// operation must recover by itself.
    #[doc(hidden)]
    pub fn danger_finalize_module(&self) -> Result<(), HsmError> {
        self.ctx.clone().finalize()?;
        Ok(())
    }
}

impl Drop for Hsm {
    fn drop(&mut self) {
        let current = self.current_generation();
        for p in lock(&self.pool).drain(..) {
            if p.generation == current {
                let _ = p.session.close();
            }
        }
        // Finalise explicitly rather than leave the module's teardown to
        // libc's exit handlers, where its order against OpenSSL's own
        // cleanup (SoftHSM2 and libpq both use libcrypto) is unspecified.
        let _ = self.ctx.clone().finalize();
    }
}

fn logged_in(session: &Session) -> Result<bool, HsmError> {
    use cryptoki::session::SessionState;
    Ok(matches!(
        session.get_session_info()?.session_state(),
        SessionState::RwUser | SessionState::RoUser
    ))
}

fn initialise(ctx: &Pkcs11) -> Result<(), HsmError> {
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn find_slot(ctx: &Pkcs11, label: &str) -> Result<Slot, HsmError> {
    let mut present = Vec::new();
    for slot in ctx.get_slots_with_initialized_token()? {
        let info = ctx.get_token_info(slot)?;
        let l = info.label().trim_end();
        if l == label {
            return Ok(slot);
        }
        present.push(format!("{l:?}"));
    }
    Err(HsmError::TokenNotFound {
        label: label.to_owned(),
        present: if present.is_empty() {
            "none".into()
        } else {
            present.join(", ")
        },
    })
}
