//! Test doubles and fixtures shared by the unit tests: a software signer
//! that counts and can misbehave, sample CA certificates, and the external
//! tool checks (OpenSSL, pkilint, for certificates, CRLs and OCSP
//! responses).
//!
//! Tests may read the clock and touch the file system; the crate may not.

use std::{
    cell::Cell,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use p256::{
    ecdsa::{DerSignature, Signature, SigningKey, VerifyingKey},
    elliptic_curve::Generate,
};
use sha2::{Digest, Sha256};
use signature::{Keypair, Signer};
use spki::{
    AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, ObjectIdentifier,
    SubjectPublicKeyInfoOwned,
};
use x509_cert::{Certificate, serial_number::SerialNumber};

use crate::{
    CertError, build_issuing_ca, build_root, ca_name,
    holder::{BirthDate, Endpoints, HolderSubject, IdentityRequest, LicenceInfo, LicenceRequest},
    random_serial,
};

pub(crate) type TestResult = Result<(), Box<dyn std::error::Error>>;

pub(crate) const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);

pub(crate) fn now() -> SystemTime {
    SystemTime::now()
}

/// A fresh serial per call. Tests need uniqueness, not unpredictability,
/// so a hashed counter and clock stand in for the CSPRNG.
pub(crate) fn test_serial() -> Result<SerialNumber, CertError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = Sha256::new();
    hasher.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    let nanos = now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    hasher.update(nanos.to_be_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    random_serial(bytes)
}

/// Software stand-in for the HSM signer, with switches for the ways a real
/// signer can misbehave.
#[derive(Debug)]
pub(crate) struct TestSigner {
    /// The key whose public half is reported.
    key: SigningKey,
    /// If set, signs with this key instead (a key swapped under a label).
    signing_key: Option<SigningKey>,
    algorithm: Option<AlgorithmIdentifierOwned>,
    fail: bool,
    high_s: bool,
    calls: Cell<usize>,
}

impl TestSigner {
    pub(crate) fn new_random() -> Self {
        Self {
            key: SigningKey::generate(),
            signing_key: None,
            algorithm: None,
            fail: false,
            high_s: false,
            calls: Cell::new(0),
        }
    }

    /// Advertises `oid` (without parameters) as its signature algorithm.
    pub(crate) fn with_algorithm(mut self, oid: ObjectIdentifier) -> Self {
        self.algorithm = Some(AlgorithmIdentifierOwned {
            oid,
            parameters: None,
        });
        self
    }

    /// Every signing attempt fails, as when the HSM is gone.
    pub(crate) fn failing(mut self) -> Self {
        self.fail = true;
        self
    }

    /// Signs with `other` while reporting its own public key.
    pub(crate) fn signing_with(mut self, other: SigningKey) -> Self {
        self.signing_key = Some(other);
        self
    }

    /// Always returns the high-S form of the signature.
    pub(crate) fn high_s(mut self) -> Self {
        self.high_s = true;
        self
    }

    pub(crate) fn calls(&self) -> usize {
        self.calls.get()
    }

    pub(crate) fn spki(&self) -> Result<SubjectPublicKeyInfoOwned, CertError> {
        crate::signer_spki(self)
    }

    pub(crate) fn into_key(self) -> SigningKey {
        self.key
    }
}

impl Keypair for TestSigner {
    type VerifyingKey = VerifyingKey;

    fn verifying_key(&self) -> VerifyingKey {
        *self.key.verifying_key()
    }
}

impl DynSignatureAlgorithmIdentifier for TestSigner {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        match &self.algorithm {
            Some(algorithm) => Ok(algorithm.clone()),
            None => self.key.signature_algorithm_identifier(),
        }
    }
}

impl Signer<DerSignature> for TestSigner {
    fn try_sign(&self, msg: &[u8]) -> Result<DerSignature, signature::Error> {
        self.calls.set(self.calls.get() + 1);
        if self.fail {
            return Err(signature::Error::new());
        }
        let key = self.signing_key.as_ref().unwrap_or(&self.key);
        let signature: Signature = key.try_sign(msg)?;
        let signature = if self.high_s {
            let low = signature.normalize_s();
            let (r, s) = low.split_scalars();
            Signature::from_scalars(r.to_bytes(), (-*s).to_bytes())?
        } else {
            signature
        };
        Ok(signature.to_der())
    }
}

pub(crate) fn software_signer() -> TestSigner {
    TestSigner::new_random()
}

/// A ten-year root starting an hour ago, so OpenSSL (which uses the clock)
/// accepts it.
pub(crate) fn sample_root(signer: &TestSigner) -> Result<Certificate, CertError> {
    build_root(
        signer,
        &ca_name("OneVisit Test Root CA", "OneVisit Wallet")?,
        test_serial()?,
        now() - Duration::from_secs(3600),
        now() + 10 * YEAR,
    )
}

/// A five-year issuing CA under `root`, with its own fresh key.
pub(crate) fn sample_issuing(
    root_signer: &TestSigner,
    root: &Certificate,
) -> Result<(Certificate, TestSigner), CertError> {
    let issuing_signer = software_signer();
    let cert = build_issuing_ca(
        root_signer,
        root,
        &ca_name("OneVisit Test Licence CA", "OneVisit Wallet")?,
        issuing_signer.spki()?,
        test_serial()?,
        now() - Duration::from_secs(60),
        now() + 5 * YEAR,
    )?;
    Ok((cert, issuing_signer))
}

/// CRL and OCSP locations as the service writes them.
pub(crate) fn sample_endpoints() -> Endpoints {
    Endpoints {
        crl_url: "http://127.0.0.1:8080/v1/crl/5e1ec7ed".into(),
        ocsp_url: "http://127.0.0.1:8080/ocsp".into(),
    }
}

pub(crate) fn sample_subject() -> HolderSubject {
    HolderSubject {
        full_name: "Lǐ Xiǎolóng".into(),
        identity_id: "0f8fad5b-d9cb-469f-a165-70867728950e".into(),
    }
}

/// A one-year identity certificate request for `holder_spki`, born before
/// 1970 (which `der::DateTime` could not express).
pub(crate) fn sample_identity_request(
    holder_spki: SubjectPublicKeyInfoOwned,
) -> Result<IdentityRequest, CertError> {
    Ok(IdentityRequest {
        subject: sample_subject(),
        birth_date: BirthDate::parse("1958-03-17")?,
        holder_spki,
        serial: test_serial()?,
        not_before: now() - Duration::from_secs(30),
        not_after: now() + YEAR,
        endpoints: sample_endpoints(),
    })
}

pub(crate) fn sample_licence_info() -> LicenceInfo {
    LicenceInfo {
        licence_type: "business".into(),
        licence_number: "BUS-2025-000042".into(),
        department: "market-regulation".into(),
        attributes: vec![
            ("company_name".into(), "龙门客栈有限公司".into()),
            ("scope".into(), "lodging, catering".into()),
            (
                "unified_social_credit_code".into(),
                "91350100M000100Y43".into(),
            ),
        ],
    }
}

pub(crate) fn sample_licence_request(
    holder_spki: SubjectPublicKeyInfoOwned,
) -> Result<LicenceRequest, CertError> {
    Ok(LicenceRequest {
        subject: sample_subject(),
        holder_spki,
        serial: test_serial()?,
        not_before: now() - Duration::from_secs(30),
        not_after: now() + YEAR,
        endpoints: sample_endpoints(),
        info: sample_licence_info(),
    })
}

/// OpenSSL and pkilint, run on certificates written to a temporary
/// directory.
pub(crate) mod external {
    use std::{env, fs, path::Path, process::Command};

    use p256::ecdsa::{DerSignature, Signature};
    use x509_cert::Certificate;

    use super::TestResult;
    use crate::{
        crl::{CertificateList, crl_to_der},
        to_der, to_pem,
    };

    /// Whether the certificate's signature is in high-S form.
    pub(crate) fn signature_is_high_s(
        cert: &Certificate,
    ) -> Result<bool, Box<dyn std::error::Error>> {
        let der = cert
            .signature()
            .as_bytes()
            .ok_or("signature has unused bits")?;
        let signature = Signature::try_from(DerSignature::from_bytes(der)?)?;
        Ok(signature.normalize_s() != signature)
    }

    /// Whether the pkilint checks are explicitly switched off.
    pub(crate) fn pkilint_skipped() -> bool {
        env::var("WALLET_SKIP_PKILINT").as_deref() == Ok("1")
    }

    /// pkilint (shared runner in `wallet-testkit`): fails on ERROR or worse,
    /// reports WARNING and NOTICE findings on stderr.
    fn pkilint(cli: &str, files: &[&Path]) -> TestResult {
        for note in wallet_testkit::pkilint(cli, files)? {
            eprintln!("pkilint: {note}");
        }
        Ok(())
    }

    /// pkilint's RFC 5280 linter on one certificate.
    pub(crate) fn pkilint_cert(dir: &Path, label: &str, cert: &Certificate) -> TestResult {
        let file = dir.join(format!("{label}.der"));
        fs::write(&file, to_der(cert)?)?;
        pkilint("lint_pkix_cert", &[&file])
    }

    /// `openssl verify -x509_strict -CAfile root -untrusted issuing leaf`,
    /// then pkilint on the leaf and on the issuing CA / leaf pair.
    pub(crate) fn check_leaf(
        dir: &Path,
        label: &str,
        root: &Certificate,
        issuing: &Certificate,
        leaf: &Certificate,
    ) -> TestResult {
        let root_pem = dir.join(format!("{label}-root.pem"));
        let issuing_pem = dir.join(format!("{label}-issuing.pem"));
        let leaf_pem = dir.join(format!("{label}-leaf.pem"));
        let issuing_der = dir.join(format!("{label}-issuing.der"));
        let leaf_der = dir.join(format!("{label}-leaf.der"));
        fs::write(&root_pem, to_pem(root)?)?;
        fs::write(&issuing_pem, to_pem(issuing)?)?;
        fs::write(&leaf_pem, to_pem(leaf)?)?;
        fs::write(&issuing_der, to_der(issuing)?)?;
        fs::write(&leaf_der, to_der(leaf)?)?;

        wallet_testkit::openssl_verify(&root_pem, Some(&issuing_pem), &leaf_pem)?;
        pkilint("lint_pkix_cert", &[&leaf_der])?;
        pkilint(
            "lint_pkix_signer_signee_cert_chain",
            &[&issuing_der, &leaf_der],
        )
    }

    /// pkilint's CRL linter (`lint_crl lint -t CRL -p PKIX`) on one CRL:
    /// fails on ERROR or worse and returns the WARNING and NOTICE lines,
    /// also printed on stderr. `wallet_testkit::pkilint` cannot pass the
    /// type and profile flags `lint_crl` requires, so its CSV report is read
    /// here the same way.
    pub(crate) fn pkilint_crl(
        dir: &Path,
        label: &str,
        crl: &CertificateList,
    ) -> Result<Vec<String>, Box<dyn std::error::Error>> {
        if pkilint_skipped() {
            return Ok(Vec::new());
        }
        let file = dir.join(format!("{label}.crl.der"));
        fs::write(&file, crl_to_der(crl)?)?;
        let bin = wallet_testkit::pkilint_bin_dir().join("lint_crl");
        if !bin.is_file() {
            return Err(
                format!("pkilint not found at {}: run deploy/test.sh", bin.display()).into(),
            );
        }
        let out = Command::new(&bin)
            .args(["lint", "-t", "CRL", "-p", "PKIX", "-s", "ALL", "-f", "CSV"])
            .args(["--document-format", "DER"])
            .arg(&file)
            .output()?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let mut lines = stdout.lines();
        if lines.next() != Some("node_path,validator,severity,code,message") {
            return Err(format!(
                "lint_crl produced no report:\n{stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        let mut notes = Vec::new();
        let mut errors = Vec::new();
        for line in lines.filter(|l| !l.trim().is_empty()) {
            match line.split(',').nth(2).unwrap_or("UNPARSED") {
                "INFO" | "DEBUG" => {}
                "WARNING" | "NOTICE" => notes.push(line.to_owned()),
                _ => errors.push(line.to_owned()),
            }
        }
        for note in &notes {
            eprintln!("pkilint lint_crl {label}: {note}");
        }
        if errors.is_empty() {
            Ok(notes)
        } else {
            Err(format!("lint_crl {label}:\n{}", errors.join("\n")).into())
        }
    }

    /// pkilint's OCSP response linter (`lint_ocsp_response`) on one DER
    /// OCSPResponse: fails on ERROR or worse and returns the WARNING and
    /// NOTICE lines, also printed on stderr.
    pub(crate) fn pkilint_ocsp_response(
        dir: &Path,
        label: &str,
        der: &[u8],
    ) -> Result<Vec<String>, Box<dyn std::error::Error>> {
        let file = dir.join(format!("{label}.ocsp.der"));
        fs::write(&file, der)?;
        let notes = wallet_testkit::pkilint_with("lint_ocsp_response", &[], &[&file])?;
        for note in &notes {
            eprintln!("pkilint lint_ocsp_response {label}: {note}");
        }
        Ok(notes)
    }

    /// `openssl asn1parse -inform DER` of `der`, its output on success.
    pub(crate) fn asn1parse(
        dir: &Path,
        label: &str,
        der: &[u8],
    ) -> Result<String, Box<dyn std::error::Error>> {
        let file = dir.join(format!("{label}.der"));
        fs::write(&file, der)?;
        let (ok, text) = wallet_testkit::run(
            std::process::Command::new("openssl")
                .args(["asn1parse", "-inform", "DER", "-in"])
                .arg(&file),
        );
        if ok {
            Ok(text)
        } else {
            Err(format!("openssl asn1parse failed: {text}").into())
        }
    }

    /// `openssl verify -x509_strict` of root and issuing CA, then pkilint on
    /// each certificate and on the pair.
    pub(crate) fn check_pair(
        dir: &Path,
        label: &str,
        root: &Certificate,
        issuing: &Certificate,
    ) -> TestResult {
        let root_pem = dir.join(format!("{label}-root.pem"));
        let issuing_pem = dir.join(format!("{label}-issuing.pem"));
        let root_der = dir.join(format!("{label}-root.der"));
        let issuing_der = dir.join(format!("{label}-issuing.der"));
        fs::write(&root_pem, to_pem(root)?)?;
        fs::write(&issuing_pem, to_pem(issuing)?)?;
        fs::write(&root_der, to_der(root)?)?;
        fs::write(&issuing_der, to_der(issuing)?)?;

        wallet_testkit::openssl_verify(&root_pem, None, &root_pem)?;
        wallet_testkit::openssl_verify(&root_pem, None, &issuing_pem)?;
        pkilint("lint_pkix_cert", &[&root_der])?;
        pkilint("lint_pkix_cert", &[&issuing_der])?;
        pkilint(
            "lint_pkix_signer_signee_cert_chain",
            &[&root_der, &issuing_der],
        )
    }
}
