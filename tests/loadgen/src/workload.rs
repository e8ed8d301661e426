//! The scenarios: what each operation sends, what counts as success, and the
//! state carried from one scenario to the next (enrolled holders, their
//! credentials and receipts), plus the untimed receipt check.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use service::domain::offline::{self, HolderKey, IssuedCredential, PresentationDoc, ProofDoc};
use sha2::{Digest as _, Sha256};

use crate::driver::{self, OpResult, Stats};
use crate::limits::rand_bytes;

/// One kind of operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// `POST /v1/identities`.
    Enroll,
    /// `POST /v1/identities/{id}/licenses`.
    Licence,
    /// `POST /v1/challenges` then `POST /v1/presentations/verify`.
    Verify,
    /// `GET /v1/ledger/proof/inclusion`.
    Proof,
    /// `POST /ocsp`.
    Ocsp,
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Scenario::Enroll => "enroll",
            Scenario::Licence => "licence",
            Scenario::Verify => "verify",
            Scenario::Proof => "proof",
            Scenario::Ocsp => "ocsp",
        })
    }
}

/// Where to send requests and as whom.
#[derive(Debug, Clone)]
pub struct Config {
    pub urls: Vec<String>,
    pub officer_token: String,
    pub licence_token: Option<String>,
    pub counter_token: Option<String>,
    pub licence_type: String,
    pub licence_attributes: Vec<String>,
}

/// Made before the run: everything an enrollment sends.
struct Holder {
    key: HolderKey,
    csr: String,
    national_id: String,
}

/// A credential the service issued during the run.
#[derive(Debug, Clone)]
struct Issued {
    serial: String,
    credential: IssuedCredential,
}

/// An enrolled holder.
#[derive(Debug, Clone)]
struct Enrolled {
    holder: usize,
    identity_id: String,
    identity: IssuedCredential,
}

/// A holder's key and credentials, ready to answer challenges: what a
/// wallet app does, with the signature made by ring so the load generator,
/// on the same cores as walletd, spends little CPU on it (RustCrypto's
/// P-256 signing made it use as much CPU per verification as walletd).
struct Presenter {
    key: ring::signature::EcdsaKeyPair,
    rng: ring::rand::SystemRandom,
    ders: Vec<Vec<u8>>,
    credentials: Vec<String>,
}

impl Presenter {
    fn new(key: &HolderKey, creds: &[IssuedCredential]) -> anyhow::Result<Self> {
        use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
        let pem = key.to_pkcs8_pem().context("holder key")?;
        let pkcs8 = p256::SecretKey::from_pkcs8_pem(&pem)
            .context("holder key")?
            .to_pkcs8_der()
            .context("holder key")?;
        let rng = ring::rand::SystemRandom::new();
        let key = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            pkcs8.as_bytes(),
            &rng,
        )
        .map_err(|e| anyhow::anyhow!("holder key for ring: {e}"))?;
        let credentials: Vec<String> = creds
            .iter()
            .map(|c| c.certificate.trim().to_owned())
            .collect();
        let ders = credentials
            .iter()
            .map(|c| B64.decode(c))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            key,
            rng,
            ders,
            credentials,
        })
    }

    /// The presentation (DESIGN.md "Presentation") for this challenge.
    fn present(
        &self,
        audience: &str,
        nonce: &str,
        issued_at: &str,
    ) -> Result<PresentationDoc, String> {
        let input = certs::presentation::signing_input(audience, nonce, issued_at, &self.ders);
        let signature = self
            .key
            .sign(&self.rng, &input)
            .map_err(|e| format!("sign: {e}"))?;
        Ok(PresentationDoc {
            version: 1,
            credentials: self.credentials.clone(),
            proof: ProofDoc {
                audience: audience.to_owned(),
                nonce: nonce.to_owned(),
                issued_at: issued_at.to_owned(),
                signature: B64.encode(signature.as_ref()),
            },
            chain: None,
            receipts: None,
        })
    }
}

/// Results of [`Workload::check_receipts`].
#[derive(Debug, Default)]
pub struct Checks {
    pub receipts: u64,
    pub receipt_failures: u64,
    pub serials: u64,
    pub duplicate_serials: u64,
    pub checkpoints: u64,
    pub failures: Vec<String>,
}

impl Checks {
    /// No failure of any kind.
    pub fn ok(&self) -> bool {
        self.receipt_failures == 0 && self.duplicate_serials == 0
    }
}

/// The state of a run.
pub struct Workload {
    config: Config,
    holders: Vec<Holder>,
    enrolled: Mutex<Vec<Enrolled>>,
    licences: Mutex<HashMap<usize, IssuedCredential>>,
    issued: Mutex<Vec<Issued>>,
}

/// One thread's connection.
struct Client {
    agent: ureq::Agent,
    base: String,
    /// The next instance (with one, the same): a presentation goes there,
    /// not where its challenge came from, as behind a load balancer
    /// without session affinity.
    peer: String,
}

fn client(urls: &[String], thread: usize) -> Client {
    // Timeouts per connect, read and write, never global or per call: with
    // either of those ureq resolves the host on a thread of its own for
    // every request, and spawning it was half of the load generator's CPU
    // (on the cores walletd runs on). The URLs are IP literals anyway.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .timeout_per_write(Some(Duration::from_secs(60)))
        .max_idle_connections_per_host(4)
        .build()
        .into();
    Client {
        agent,
        base: urls[thread % urls.len()].trim_end_matches('/').to_owned(),
        peer: urls[(thread + 1) % urls.len()]
            .trim_end_matches('/')
            .to_owned(),
    }
}

/// Status and body of a JSON POST; transport failures become an error kind.
fn post_json(
    c: &Client,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> Result<(u16, Value), String> {
    post_json_to(c, &c.base, path, token, body)
}

/// [`post_json`] to the instance at `base`.
fn post_json_to(
    c: &Client,
    base: &str,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> Result<(u16, Value), String> {
    let mut req = c.agent.post(&format!("{base}{path}"));
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut resp = req.send_json(body).map_err(transport)?;
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().map_err(transport)?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

fn transport(e: ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => "timeout".into(),
        ureq::Error::Io(e) => format!("io {:?}", e.kind()),
        other => format!("transport {other}"),
    }
}

/// The `i`-th operation's item: the prepared items are used round robin.
fn cycle<T>(items: &[T], i: u64) -> Option<&T> {
    items.get(usize::try_from(i).ok()? % items.len().max(1))
}

/// A failure kind: the status and the problem type.
fn problem(status: u16, body: &Value) -> String {
    let ty = body["type"].as_str().unwrap_or("");
    format!("{status} {}", ty.rsplit('/').next().unwrap_or(ty))
}

fn issued_credential(body: &Value) -> Option<IssuedCredential> {
    serde_json::from_value(body.clone()).ok()
}

impl Workload {
    /// A run against `config`.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            holders: Vec::new(),
            enrolled: Mutex::new(Vec::new()),
            licences: Mutex::new(HashMap::new()),
            issued: Mutex::new(Vec::new()),
        }
    }

    /// Makes `count` holder keys, CSRs and unique national IDs on `threads`
    /// threads.
    pub fn make_holders(&mut self, count: usize, threads: usize) -> anyhow::Result<()> {
        let run = hex::encode_upper(rand_bytes::<4>()?);
        let per = count.div_ceil(threads.max(1));
        let made: Vec<anyhow::Result<Vec<Holder>>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let run = &run;
                    s.spawn(move || {
                        let start = t * per;
                        let end = ((t + 1) * per).min(count);
                        (start..end)
                            .map(|i| {
                                let key = loop {
                                    if let Ok(k) = HolderKey::from_scalar(&rand_bytes::<32>()?) {
                                        break k;
                                    }
                                };
                                let csr = key.csr_pem().context("CSR")?;
                                Ok(Holder {
                                    key,
                                    csr,
                                    national_id: format!("LG{run}{i:010}"),
                                })
                            })
                            .collect()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("holder thread panicked")))
                })
                .collect()
        });
        for part in made {
            self.holders.extend(part?);
        }
        Ok(())
    }

    /// Runs one scenario for `duration` on `connections` connections.
    /// `started` is called when the preparation (untimed) is done and the
    /// measured window begins.
    pub fn run(
        &self,
        scenario: Scenario,
        connections: usize,
        duration: Duration,
        started: &mut dyn FnMut(),
    ) -> anyhow::Result<Stats> {
        let urls = &self.config.urls;
        let name = scenario.to_string();
        let stats = match scenario {
            Scenario::Enroll => driver::drive(
                &name,
                connections,
                duration,
                started,
                |t| client(urls, t),
                |c, i| self.enroll(c, usize::try_from(i).ok()?),
            ),
            Scenario::Licence => {
                let enrolled = self.snapshot_enrolled();
                anyhow::ensure!(!enrolled.is_empty(), "licence needs enroll first");
                let token = self
                    .config
                    .licence_token
                    .as_deref()
                    .context("licence needs --licence-token")?;
                let attributes: serde_json::Map<String, Value> = self
                    .config
                    .licence_attributes
                    .iter()
                    .map(|a| (a.clone(), Value::String(format!("loadgen {a}"))))
                    .collect();
                let body =
                    json!({"license_type": self.config.licence_type, "attributes": attributes});
                driver::drive(
                    &name,
                    connections,
                    duration,
                    started,
                    |t| client(urls, t),
                    |c, i| {
                        let e = cycle(&enrolled, i)?;
                        Some(self.licence(c, token, e, &body))
                    },
                )
            }
            Scenario::Verify => {
                let token = self
                    .config
                    .counter_token
                    .as_deref()
                    .context("verify needs --counter-token")?;
                let pairs = self.presentable();
                anyhow::ensure!(!pairs.is_empty(), "verify needs enroll and licence first");
                eprintln!("preparing {} presenters...", pairs.len());
                let presenters = pairs
                    .iter()
                    .map(|(holder, creds)| Presenter::new(&self.holders[*holder].key, creds))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                driver::drive(
                    &name,
                    connections,
                    duration,
                    started,
                    |t| client(urls, t),
                    |c, i| {
                        let p = cycle(&presenters, i)?;
                        Some(self.verify(c, token, p))
                    },
                )
            }
            Scenario::Proof => {
                let leaves: Vec<u64> = self
                    .issued
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .iter()
                    .filter_map(|i| i.credential.receipt.as_ref().map(|r| r.leaf_index))
                    .collect();
                anyhow::ensure!(!leaves.is_empty(), "proof needs issued credentials first");
                driver::drive(
                    &name,
                    connections,
                    duration,
                    started,
                    |t| client(urls, t),
                    |c, i| {
                        let leaf = cycle(&leaves, i)?;
                        Some(proof(c, *leaf))
                    },
                )
            }
            Scenario::Ocsp => {
                let requests = self.ocsp_requests()?;
                anyhow::ensure!(!requests.is_empty(), "ocsp needs issued credentials first");
                driver::drive(
                    &name,
                    connections,
                    duration,
                    started,
                    |t| client(urls, t),
                    |c, i| {
                        let r = cycle(&requests, i)?;
                        Some(ocsp(c, r))
                    },
                )
            }
        };
        Ok(stats)
    }

    fn snapshot_enrolled(&self) -> Vec<Enrolled> {
        self.enrolled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn enroll(&self, c: &mut Client, i: usize) -> Option<OpResult> {
        let h = self.holders.get(i)?;
        let body = json!({
            "national_id": h.national_id,
            "full_name": "Load Generator",
            "birth_date": "1985-04-12",
            "address": "1 Harbour Road, Springfield",
            "csr": h.csr,
        });
        Some((|| {
            let (status, body) =
                post_json(c, "/v1/identities", Some(&self.config.officer_token), &body)?;
            if status != 201 {
                return Err(problem(status, &body));
            }
            let credential = issued_credential(&body).ok_or("201 without a credential")?;
            let identity_id = body["identity_id"].as_str().unwrap_or_default().to_owned();
            let serial = body["serial"].as_str().unwrap_or_default().to_owned();
            self.issued
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(Issued {
                    serial,
                    credential: credential.clone(),
                });
            self.enrolled
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(Enrolled {
                    holder: i,
                    identity_id,
                    identity: credential,
                });
            Ok(())
        })())
    }

    fn licence(&self, c: &mut Client, token: &str, e: &Enrolled, body: &Value) -> OpResult {
        let path = format!("/v1/identities/{}/licenses", e.identity_id);
        let (status, resp) = post_json(c, &path, Some(token), body)?;
        if status != 201 {
            return Err(problem(status, &resp));
        }
        let credential = issued_credential(&resp).ok_or("201 without a credential")?;
        let serial = resp["serial"].as_str().unwrap_or_default().to_owned();
        self.issued
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Issued {
                serial,
                credential: credential.clone(),
            });
        self.licences
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(e.holder, credential);
        Ok(())
    }

    /// Holders with an identity and a licence, and those two credentials.
    fn presentable(&self) -> Vec<(usize, Vec<IssuedCredential>)> {
        let licences = self
            .licences
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.snapshot_enrolled()
            .into_iter()
            .filter_map(|e| {
                let l = licences.get(&e.holder)?;
                Some((e.holder, vec![e.identity.clone(), l.clone()]))
            })
            .collect()
    }

    fn verify(&self, c: &mut Client, token: &str, presenter: &Presenter) -> OpResult {
        let audience = "loadgen-counter";
        let (status, challenge) = post_json(
            c,
            "/v1/challenges",
            Some(token),
            &json!({ "audience": audience }),
        )?;
        if status != 201 {
            return Err(format!("challenge {}", problem(status, &challenge)));
        }
        let nonce = challenge["nonce"]
            .as_str()
            .ok_or("challenge without nonce")?;
        let issued_at = service::domain::rfc3339(service::domain::unix(SystemTime::now()));
        let doc = presenter.present(audience, nonce, &issued_at)?;
        let body = serde_json::to_value(&doc).map_err(|e| e.to_string())?;
        let (status, result) = post_json_to(c, &c.peer, "/v1/presentations/verify", None, &body)?;
        if status != 200 {
            return Err(problem(status, &result));
        }
        if result["verdict"] != "valid" {
            let first = result["errors"][0].as_str().unwrap_or("?").to_owned();
            return Err(format!("invalid: {first}"));
        }
        Ok(())
    }

    /// DER OCSP requests (one CertID, SHA-1 as OpenSSL sends) for every
    /// issued credential.
    fn ocsp_requests(&self) -> anyhow::Result<Vec<Vec<u8>>> {
        let issued = self
            .issued
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let mut out = Vec::with_capacity(issued.len());
        for i in issued.iter().take(50_000) {
            let issuer = i
                .credential
                .chain
                .first()
                .context("credential without chain")?;
            let issuer = certs::from_der(&B64.decode(issuer)?)?;
            let cert = certs::from_der(&B64.decode(&i.credential.certificate)?)?;
            let id = certs::ocsp::CertIdRequest::new(
                certs::ocsp::OcspHash::Sha1,
                &issuer,
                cert.tbs_certificate().serial_number().clone(),
            )?;
            // OCSPRequest ::= SEQ { tbsRequest SEQ { requestList SEQ OF
            // Request SEQ { reqCert CertID } } }
            let request = der_sequence(&id.raw);
            let list = der_sequence(&request);
            let tbs = der_sequence(&list);
            out.push(der_sequence(&tbs));
        }
        Ok(out)
    }

    /// Verifies, untimed, every receipt the run was given (entry, inclusion
    /// proof, checkpoint signature under a published ledger key) and that no
    /// serial was issued twice.
    pub fn check_receipts(&self) -> anyhow::Result<Checks> {
        let issued = self
            .issued
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let c = client(&self.config.urls, 0);
        let trust = get_json(&c, "/v1/trust")?;
        let origin = trust["ledger_origin"]
            .as_str()
            .context("trust origin")?
            .to_owned();
        let keys: Vec<Vec<u8>> = trust["ledger_keys"]
            .as_array()
            .context("ledger keys")?
            .iter()
            .filter_map(|k| k["public_key_pem"].as_str())
            .filter_map(pem_body)
            .collect();
        let mut checks = Checks::default();
        let mut serials = HashSet::new();
        for i in &issued {
            checks.serials += 1;
            if !serials.insert(i.serial.clone()) {
                checks.duplicate_serials += 1;
                checks
                    .failures
                    .push(format!("serial {} issued twice", i.serial));
            }
        }
        let mut verified_notes: HashMap<String, [u8; 32]> = HashMap::new();
        let mut entries: HashMap<u64, String> = HashMap::new();
        let mut indexes: Vec<u64> = issued
            .iter()
            .filter_map(|i| i.credential.receipt.as_ref().map(|r| r.leaf_index))
            .collect();
        indexes.sort_unstable();
        for chunk in indexes.chunks(500) {
            let (Some(first), Some(last)) = (chunk.first(), chunk.last()) else {
                continue;
            };
            let mut start = *first;
            while start <= *last {
                let page = get_json(
                    &c,
                    &format!("/v1/ledger/entries?start={start}&end={}", last + 1),
                )?;
                let list: offline::LedgerEntries =
                    serde_json::from_value(page).context("entries page")?;
                if list.entries.is_empty() {
                    break;
                }
                for e in list.entries {
                    start = start.max(e.leaf_index + 1);
                    entries.insert(e.leaf_index, e.entry);
                }
            }
        }
        for i in &issued {
            checks.receipts += 1;
            if let Err(why) = check_one(i, &origin, &keys, &entries, &mut verified_notes) {
                checks.receipt_failures += 1;
                checks.failures.push(format!("serial {}: {why}", i.serial));
            }
        }
        checks.checkpoints = verified_notes.len() as u64;
        Ok(checks)
    }
}

fn check_one(
    i: &Issued,
    origin: &str,
    keys: &[Vec<u8>],
    entries: &HashMap<u64, String>,
    verified: &mut HashMap<String, [u8; 32]>,
) -> Result<(), String> {
    let r = i.credential.receipt.as_ref().ok_or("no receipt")?;
    let entry = entries
        .get(&r.leaf_index)
        .ok_or("entry not on the ledger")?;
    let parsed: Value = serde_json::from_str(entry).map_err(|e| e.to_string())?;
    let der = B64
        .decode(&i.credential.certificate)
        .map_err(|e| e.to_string())?;
    if parsed["cert_sha256"] != hex::encode(Sha256::digest(&der)) || parsed["serial"] != i.serial {
        return Err("the entry is not this certificate's issuance".into());
    }
    let root = match verified.get(&r.checkpoint) {
        Some(root) => *root,
        None => {
            let cp = keys
                .iter()
                .find_map(|k| ledger::checkpoint::verify_checkpoint(&r.checkpoint, origin, k).ok())
                .ok_or("checkpoint signature does not verify under any ledger key")?;
            if cp.size != r.tree_size {
                return Err("receipt tree size differs from its checkpoint".into());
            }
            verified.insert(r.checkpoint.clone(), cp.root);
            cp.root
        }
    };
    let proof: Vec<ledger::Hash> = r
        .inclusion_proof
        .iter()
        .map(|h| {
            B64.decode(h)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or("bad proof hash")
        })
        .collect::<Result<_, _>>()?;
    ledger::tree::verify_inclusion(
        &ledger::leaf_hash(entry.as_bytes()),
        r.leaf_index,
        r.tree_size,
        &proof,
        &root,
    )
    .map_err(|e| format!("inclusion proof: {e}"))
}

fn get_json(c: &Client, path: &str) -> anyhow::Result<Value> {
    let mut resp = c
        .agent
        .get(&format!("{}{path}", c.base))
        .call()
        .with_context(|| format!("GET {path}"))?;
    anyhow::ensure!(resp.status() == 200, "GET {path}: {}", resp.status());
    Ok(serde_json::from_str(&resp.body_mut().read_to_string()?)?)
}

fn proof(c: &Client, leaf: u64) -> OpResult {
    let mut resp = c
        .agent
        .get(&format!(
            "{}/v1/ledger/proof/inclusion?leaf_index={leaf}",
            c.base
        ))
        .call()
        .map_err(transport)?;
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().map_err(transport)?;
    if status != 200 {
        return Err(problem(
            status,
            &serde_json::from_str(&text).unwrap_or(Value::Null),
        ));
    }
    Ok(())
}

fn ocsp(c: &Client, request: &[u8]) -> OpResult {
    let mut resp = c
        .agent
        .post(&format!("{}/ocsp", c.base))
        .header("Content-Type", "application/ocsp-request")
        .send(request)
        .map_err(transport)?;
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_vec().map_err(transport)?;
    if status != 200 {
        return Err(format!("{status}"));
    }
    // OCSPResponse ::= SEQ { responseStatus ENUMERATED (0 = successful), ... }
    let successful = body.windows(3).take(8).any(|w| w == [0x0a, 0x01, 0x00]);
    if successful {
        Ok(())
    } else {
        Err("ocsp not successful".into())
    }
}

fn der_sequence(content: &[u8]) -> Vec<u8> {
    let mut out = vec![0x30];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

fn pem_body(pem: &str) -> Option<Vec<u8>> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    B64.decode(b64.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths() {
        assert_eq!(der_sequence(&[1, 2]), vec![0x30, 2, 1, 2]);
        let long = vec![0u8; 300];
        let enc = der_sequence(&long);
        assert_eq!(&enc[..4], &[0x30, 0x82, 0x01, 0x2c]);
    }
}
