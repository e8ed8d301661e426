//! Randomness from the operating system's CSPRNG: certificate serial bytes,
//! staff bearer tokens, request ids. Kept here so domain code takes random
//! bytes as parameters and tests can pin them.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// `N` bytes from the OS CSPRNG.
pub fn bytes<const N: usize>() -> Result<[u8; N], getrandom::Error> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf)?;
    Ok(buf)
}

/// A fresh request id (16 random bytes, hex). Falls back to the time when the
/// OS has no randomness to give, which only costs uniqueness of log lines.
pub fn request_id() -> String {
    match bytes::<16>() {
        Ok(b) => hex::encode(b),
        Err(_) => format!(
            "t{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ),
    }
}

/// A new staff bearer token: `ovw_` and 32 random bytes, base64url.
pub fn staff_token() -> Result<String, getrandom::Error> {
    Ok(format!("ovw_{}", URL_SAFE_NO_PAD.encode(bytes::<32>()?)))
}
