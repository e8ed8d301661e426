//! The user PIN as a secret: zeroized on drop, redacted in `Debug`, never
//! serialisable, exposed only to the login call.

use secrecy::{ExposeSecret, SecretString};

/// A token user PIN. `Debug` prints `Pin(<redacted>)`; there is no `Display`
/// and no `Serialize`, so the PIN cannot reach a log line by accident.
#[derive(Clone)]
pub struct Pin(SecretString);

impl Pin {
    /// Wraps a PIN. Surrounding white space (a trailing newline in a PIN file)
    /// is not part of the PIN.
    pub fn new(pin: &str) -> Self {
        Self(SecretString::from(pin.trim()))
    }

    /// True when the PIN is empty after trimming.
    pub fn is_empty(&self) -> bool {
        self.0.expose_secret().is_empty()
    }

    pub(crate) fn secret(&self) -> &SecretString {
        &self.0
    }
}

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pin(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::Pin;

    #[test]
    fn debug_never_shows_the_pin() {
        let pin = Pin::new("s3cret-pin\n");
        let shown = format!("{pin:?} {:?}", Some(&pin));
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("redacted"));
        assert!(!pin.is_empty());
        assert!(Pin::new(" \n").is_empty());
    }
}
