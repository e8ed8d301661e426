#!/usr/bin/env python3
"""Independent verifier for the OneVisit Wallet transparency ledger.

Written from the specifications only -- RFC 9162 section 2.1 (Merkle tree
hashes and proofs), C2SP tlog-checkpoint, C2SP signed-note and DESIGN.md
("Ledger", "HTTP API") -- never from the service's Rust code, so that two
implementations have to agree.

Usage:
    verify_ledger.py --url http://127.0.0.1:8080 \
        [--receipts ISSUED.json ...] [--previous-checkpoint SAVED.note ...]

Exit status: 0 ledger verified, 1 a check failed (the message names the leaf,
tree size, checkpoint or receipt), 2 the ledger could not be fetched (network
error, HTTP error status, unreadable local file).

Only the Python standard library and `cryptography` are used.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import http.client
import json
import random
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

HASH_LEN = 32
EM_DASH = "\u2014"
# C2SP signed-note: verifiers MUST accept at least 16 signatures and SHOULD cap them.
MAX_SIGNATURES = 64


class VerifyError(Exception):
    """A check failed: the ledger (or a receipt / checkpoint) is not valid. Exit 1."""


class FetchError(Exception):
    """The data could not be obtained (network, HTTP status, local file). Exit 2."""


# --------------------------------------------------------------------------
# Small decoding helpers (RFC 4648 section 4 standard base64, with padding).
# --------------------------------------------------------------------------


def b64decode_strict(text, what, length=None):
    """Decode standard base64, rejecting anything but the canonical encoding."""
    if not isinstance(text, str):
        raise VerifyError(f"{what}: expected a base64 string, got {type(text).__name__}")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise VerifyError(f"{what}: invalid base64 ({e})") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise VerifyError(f"{what}: non-canonical base64")
    if length is not None and len(raw) != length:
        raise VerifyError(f"{what}: expected {length} bytes, got {len(raw)}")
    return raw


def b64(raw):
    return base64.b64encode(raw).decode("ascii")


# --------------------------------------------------------------------------
# RFC 9162 section 2.1: Merkle tree hashing and proofs.
# --------------------------------------------------------------------------

EMPTY_ROOT = hashlib.sha256(b"").digest()  # 2.1.1: MTH({}) = HASH()


def hash_leaf(entry: bytes) -> bytes:
    """2.1.1: MTH({d(0)}) = HASH(0x00 || d(0))."""
    return hashlib.sha256(b"\x00" + entry).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """2.1.1: MTH(D[n]) = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n]))."""
    return hashlib.sha256(b"\x01" + left + right).digest()


class TreeBuilder:
    """Computes MTH (RFC 9162 2.1.1) incrementally, one leaf hash at a time.

    MTH(D[n]) splits at k, the largest power of two smaller than n, so a tree
    of n leaves is a run of perfect subtrees, one per set bit of n, largest
    first.  We keep the root of each of those subtrees on a stack; appending a
    leaf merges equal-height neighbours (exactly like binary addition), and
    the tree head is the stack folded from the right, which is the recursive
    definition unrolled.  O(n) hashes for the whole log, O(log n) memory, and
    the root of every prefix is available as the leaves stream in.
    """

    def __init__(self):
        self.size = 0
        self._stack = []  # [(height, hash)], heights strictly decreasing

    def append(self, leaf_hash: bytes):
        height, node = 0, leaf_hash
        while self._stack and self._stack[-1][0] == height:
            _, left = self._stack.pop()
            node = hash_children(left, node)
            height += 1
        self._stack.append((height, node))
        self.size += 1

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        node = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            node = hash_children(left, node)
        return node


class HashList:
    """Leaf hashes packed 32 bytes each in one bytearray, so a log of millions
    of leaves fits in memory (a list of bytes objects would be ~3x larger)."""

    def __init__(self):
        self._buf = bytearray()

    def append(self, h: bytes):
        self._buf += h

    def __len__(self):
        return len(self._buf) // HASH_LEN

    def __getitem__(self, i: int) -> bytes:
        if not 0 <= i < len(self):
            raise IndexError(i)
        return bytes(self._buf[i * HASH_LEN : (i + 1) * HASH_LEN])


def mth(leaf_hashes) -> bytes:
    """Merkle Tree Hash of a list of leaf hashes (RFC 9162 2.1.1)."""
    tree = TreeBuilder()
    for h in leaf_hashes:
        tree.append(h)
    return tree.root()


def _check_hashes(proof, what):
    for i, p in enumerate(proof):
        if not isinstance(p, (bytes, bytearray)) or len(p) != HASH_LEN:
            raise VerifyError(f"{what}: proof element {i} is not a {HASH_LEN}-byte hash")


def verify_inclusion(leaf_index, tree_size, leaf_hash, proof, root):
    """RFC 9162 2.1.3.2 "Verifying an Inclusion Proof". Raises VerifyError."""
    what = f"inclusion proof for leaf {leaf_index} in tree size {tree_size}"
    if len(leaf_hash) != HASH_LEN or len(root) != HASH_LEN:
        raise VerifyError(f"{what}: leaf hash or root has the wrong length")
    _check_hashes(proof, what)
    # 1. leaf_index must be inside the tree.
    if not 0 <= leaf_index < tree_size:
        raise VerifyError(f"{what}: leaf index out of range")
    # 2-3. fn = leaf_index, sn = tree_size - 1, r = leaf hash.
    fn, sn, r = leaf_index, tree_size - 1, leaf_hash
    # 4. for each p in the path:
    for p in proof:
        if sn == 0:  # 4a. path is too long
            raise VerifyError(f"{what}: proof has too many elements")
        if fn & 1 or fn == sn:  # 4b. p is a left sibling
            r = hash_children(p, r)
            if not fn & 1:  # right-most node of a smaller subtree: climb past it
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:  # p is a right sibling
            r = hash_children(r, p)
        fn >>= 1  # 4c.
        sn >>= 1
    # 5. sn must be 0 and r must equal the root.
    if sn != 0:
        raise VerifyError(f"{what}: proof has too few elements")
    if r != root:
        raise VerifyError(f"{what}: computed root {r.hex()} != expected {root.hex()}")


def verify_consistency(first, second, first_hash, second_hash, proof):
    """RFC 9162 2.1.4.2 "Verifying Consistency between Two Tree Heads". Raises VerifyError."""
    what = f"consistency proof {first} -> {second}"
    if len(first_hash) != HASH_LEN or len(second_hash) != HASH_LEN:
        raise VerifyError(f"{what}: root has the wrong length")
    _check_hashes(proof, what)
    if not 0 <= first <= second:
        raise VerifyError(f"{what}: first tree is larger than the second")
    if first == second:  # same tree: no proof (2.1.4.1: SUBPROOF(m, D[m], true) = {})
        if proof:
            raise VerifyError(f"{what}: proof must be empty for equal sizes")
        if first_hash != second_hash:
            raise VerifyError(f"{what}: same size, different roots {first_hash.hex()} != {second_hash.hex()}")
        return
    if first == 0:  # the empty tree is a prefix of every tree; nothing to prove
        if proof:
            raise VerifyError(f"{what}: proof must be empty from the empty tree")
        return
    # 1. an empty path fails (0 < first < second here).
    if not proof:
        raise VerifyError(f"{what}: proof is empty")
    path = list(proof)
    # 2. if first is an exact power of 2, prepend first_hash.
    if first & (first - 1) == 0:
        path.insert(0, first_hash)
    # 3. fn = first - 1, sn = second - 1.
    fn, sn = first - 1, second - 1
    # 4. if LSB(fn) is set, shift both right until it is not.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5. fr = sr = first value of the path.
    fr = sr = path[0]
    # 6. for each subsequent value c:
    for c in path[1:]:
        if sn == 0:  # 6a.
            raise VerifyError(f"{what}: proof has too many elements")
        if fn & 1 or fn == sn:  # 6b.
            fr = hash_children(c, fr)
            sr = hash_children(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = hash_children(sr, c)
        fn >>= 1  # 6c.
        sn >>= 1
    # 7. fr == first_hash, sr == second_hash, sn == 0.
    if sn != 0:
        raise VerifyError(f"{what}: proof has too few elements")
    if fr != first_hash:
        raise VerifyError(f"{what}: reconstructed old root {fr.hex()} != {first_hash.hex()}")
    if sr != second_hash:
        raise VerifyError(f"{what}: reconstructed new root {sr.hex()} != {second_hash.hex()}")


# --------------------------------------------------------------------------
# C2SP signed-note and tlog-checkpoint, with the DESIGN.md key profile:
# signature type 0x02 (ECDSA P-256, SHA-256, DER signature), key ID = first 4
# bytes of SHA-256(DER SubjectPublicKeyInfo), key name = the ledger origin.
# --------------------------------------------------------------------------


@dataclass
class NoteSignature:
    name: str
    key_id: bytes  # 4 bytes, big-endian uint32
    signature: bytes


@dataclass
class LedgerKey:
    name: str  # key name in signature lines (= ledger origin)
    key_id: bytes  # 4-byte note key ID
    public_key: ec.EllipticCurvePublicKey
    state: str = "active"


@dataclass
class Checkpoint:
    origin: str
    size: int
    root: bytes
    note: str = ""  # the full signed note it came from
    signed_by: list = field(default_factory=list)  # LedgerKeys whose signature verified


def spki_der_from_pem(pem: str) -> bytes:
    """The DER bytes inside a 'PUBLIC KEY' PEM block, exactly as published."""
    m = re.search(r"-----BEGIN PUBLIC KEY-----(.*?)-----END PUBLIC KEY-----", pem, re.S)
    if not m:
        raise VerifyError("ledger key: not a PEM 'PUBLIC KEY' block")
    try:
        return base64.b64decode("".join(m.group(1).split()), validate=True)
    except (binascii.Error, ValueError):
        raise VerifyError("ledger key: PEM body is not base64") from None


def note_key_id(spki_der: bytes) -> bytes:
    """DESIGN.md / C2SP signed-note type 0x02: SHA-256(DER SPKI)[:4]."""
    return hashlib.sha256(spki_der).digest()[:4]


def ledger_key_from_spki(name: str, spki_der: bytes, state="active") -> LedgerKey:
    try:
        pub = serialization.load_der_public_key(spki_der)
    except ValueError as e:
        raise VerifyError(f"ledger key: unreadable SubjectPublicKeyInfo ({e})") from None
    if not isinstance(pub, ec.EllipticCurvePublicKey) or not isinstance(pub.curve, ec.SECP256R1):
        raise VerifyError("ledger key: not an ECDSA P-256 public key")
    return LedgerKey(name=name, key_id=note_key_id(spki_der), public_key=pub, state=state)


def parse_signed_note(note: str):
    """Split a C2SP signed note into (text, [NoteSignature]). Raises VerifyError."""
    if not note.endswith("\n"):
        raise VerifyError("signed note does not end in a newline")
    for ch in note:  # MUST NOT contain ASCII control characters other than newline
        if ord(ch) < 0x20 and ch != "\n":
            raise VerifyError(f"signed note contains control character U+{ord(ch):04X}")
    # The text is separated from the signatures by the LAST empty line; the
    # text keeps its final newline, the blank line belongs to neither.
    cut = note.rfind("\n\n")
    if cut < 0:
        raise VerifyError("signed note has no blank line before the signatures")
    text, sig_block = note[: cut + 1], note[cut + 2 :]
    lines = sig_block.split("\n")[:-1]
    if not lines:
        raise VerifyError("signed note has no signature lines")
    if len(lines) > MAX_SIGNATURES:
        raise VerifyError(f"signed note has {len(lines)} signatures (limit {MAX_SIGNATURES})")
    sigs = []
    for line in lines:
        # "— <key name> <base64(key ID || signature)>"
        if not line.startswith(EM_DASH + " "):
            raise VerifyError(f"malformed signature line {line!r}")
        name, sep, sig_b64 = line[2:].rpartition(" ")
        if not sep or not name or "+" in name or any(c.isspace() for c in name):
            raise VerifyError(f"malformed key name in signature line {line!r}")
        raw = b64decode_strict(sig_b64, f"signature of {name}")
        if len(raw) < 5:
            raise VerifyError(f"signature of {name} is too short")
        sigs.append(NoteSignature(name=name, key_id=raw[:4], signature=raw[4:]))
    return text, sigs


def verify_note(note: str, keys):
    """Verify a signed note against trusted keys. Returns (text, [LedgerKey verified]).

    C2SP signed-note: signatures whose (key name, key ID) match no known key
    are ignored; a known key's signature that does not verify rejects the
    whole note; at least one known key must verify.
    """
    text, sigs = parse_signed_note(note)
    verified = []
    for s in sigs:
        candidates = [k for k in keys if k.name == s.name and k.key_id == s.key_id]
        if not candidates:
            continue  # unknown key: ignored
        good = None
        for k in candidates:
            try:
                k.public_key.verify(s.signature, text.encode("utf-8"), ec.ECDSA(hashes.SHA256()))
                good = k
                break
            except InvalidSignature:
                pass
        if good is None:
            raise VerifyError(f"signature by trusted key {s.name} {s.key_id.hex()} does not verify")
        verified.append(good)
    if not verified:
        seen = ", ".join(f"{s.name} {s.key_id.hex()}" for s in sigs)
        raise VerifyError(f"no signature from a trusted ledger key (signatures: {seen})")
    return text, verified


def parse_checkpoint(text: str) -> Checkpoint:
    """C2SP tlog-checkpoint note text: origin, tree size, base64 root hash."""
    lines = text.split("\n")
    if lines[-1] != "":
        raise VerifyError("checkpoint text does not end in a newline")
    lines = lines[:-1]
    if len(lines) < 3 or any(line == "" for line in lines):
        raise VerifyError("checkpoint text must be at least three non-empty lines")
    origin, size_s, root_s = lines[:3]
    if not re.fullmatch(r"0|[1-9][0-9]*", size_s):  # ASCII decimal, no leading zeroes
        raise VerifyError(f"checkpoint tree size {size_s!r} is not a canonical decimal")
    root = b64decode_strict(root_s, "checkpoint root hash", HASH_LEN)
    if len(lines) > 3:
        # C2SP allows opaque extension lines, but DESIGN.md's checkpoint body
        # is exactly three lines, so the service must not add any.
        raise VerifyError(f"checkpoint has extension lines {lines[3:]!r} (DESIGN.md defines none)")
    return Checkpoint(origin=origin, size=int(size_s), root=root)


def verify_checkpoint(note: str, origin: str, keys, what="checkpoint") -> Checkpoint:
    """Signature first (C2SP: text MUST be ignored until verified), then parse."""
    if not isinstance(note, str):
        raise VerifyError(f"{what}: not a string")
    try:
        text, verified = verify_note(note, keys)
        cp = parse_checkpoint(text)
    except VerifyError as e:
        raise VerifyError(f"{what}: {e}") from None
    if cp.origin != origin:
        raise VerifyError(f"{what}: origin {cp.origin!r} != trusted origin {origin!r}")
    cp.note, cp.signed_by = note, verified
    return cp


# --------------------------------------------------------------------------
# Ledger entries (DESIGN.md "Ledger"): canonical JSON, four entry types.
# --------------------------------------------------------------------------

_HEX = re.compile(r"[0-9a-f]+")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# A UUID in its lowercase hyphenated text form (8-4-4-4-12 hex digits). Only
# the spelling is checked, not version or variant bits.
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Integers in an entry are 64-bit signed on the writing side.
_I64_MAX = 2**63 - 1


def _hex(v):
    return isinstance(v, str) and _HEX.fullmatch(v) is not None


def _sha256_hex(v):
    return isinstance(v, str) and _SHA256_HEX.fullmatch(v) is not None


def _unix_time(v):
    return type(v) is int and v >= 0


def _nonempty_str(v):
    return isinstance(v, str) and v != ""


def _uuid(v):
    return isinstance(v, str) and _UUID.fullmatch(v) is not None


def _staff_id(v):
    return type(v) is int and 1 <= v <= _I64_MAX


ENTRY_SCHEMAS = {
    "issuance": {
        "at": _unix_time,
        "cert_sha256": _sha256_hex,
        "issuer_key_id": _hex,
        "kind": lambda v: v in ("identity", "license"),
        "serial": _hex,
        "type": lambda v: v == "issuance",
    },
    "revocation": {
        "at": _unix_time,
        "reason": _nonempty_str,
        "serial": _hex,
        "type": lambda v: v == "revocation",
    },
    "key": {
        "at": _unix_time,
        # Keys without a certificate (the ledger key, the dedup HMAC key)
        # record an empty cert_sha256.
        "cert_sha256": lambda v: v == "" or _sha256_hex(v),
        # certified: an additional certificate for an active key (a
        # cross-certificate, or an issuing CA re-certified under a new root).
        "event": lambda v: v in ("activated", "certified", "retired", "destroyed"),
        "key_id": _hex,
        "purpose": _nonempty_str,
        "type": lambda v: v == "key",
    },
    # The two steps of the two-person rule for a key rotation: one ops user
    # requests, another approves, both under the same request_id.
    "key-request": {
        "at": _unix_time,
        "event": lambda v: v in ("requested", "approved"),
        "purpose": _nonempty_str,
        "request_id": _uuid,
        "staff_id": _staff_id,
        "type": lambda v: v == "key-request",
    },
}


def canonical_json(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def check_entry(entry: str) -> dict:
    """Parse an entry; it must be canonical JSON of one of the DESIGN.md shapes."""
    if not isinstance(entry, str):
        raise VerifyError("entry is not a string")
    try:
        obj = json.loads(entry, parse_constant=_reject_constant)
    except ValueError as e:
        raise VerifyError(f"entry is not JSON ({e})") from None
    if not isinstance(obj, dict):
        raise VerifyError("entry is not a JSON object")
    try:
        canonical = canonical_json(obj)
    except UnicodeEncodeError:  # e.g. a lone surrogate escape
        raise VerifyError("entry is not valid UTF-8 text") from None
    if canonical != entry.encode("utf-8"):
        raise VerifyError(f"entry is not canonical JSON (canonical form: {canonical.decode('utf-8')})")
    schema = ENTRY_SCHEMAS.get(obj.get("type"))
    if schema is None:
        raise VerifyError(f"entry has unknown type {obj.get('type')!r}")
    if set(obj) != set(schema):
        raise VerifyError(f"{obj['type']} entry has fields {sorted(obj)}, expected {sorted(schema)}")
    for name, ok in schema.items():
        if not ok(obj[name]):
            raise VerifyError(f"{obj['type']} entry has an invalid {name}: {obj[name]!r}")
    return obj


# --------------------------------------------------------------------------
# HTTP (urllib only).
# --------------------------------------------------------------------------


class Client:
    def __init__(self, base_url: str, timeout: float = 30.0):
        self.base = base_url.rstrip("/")
        self.timeout = timeout

    def get(self, path, params=None) -> bytes:
        url = self.base + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        req = urllib.request.Request(url, headers={"User-Agent": "onevisit-verify-ledger/1"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.read()
        except urllib.error.HTTPError as e:
            detail = e.read(300).decode("utf-8", "replace").strip()
            raise FetchError(f"GET {url}: HTTP {e.code} {detail}") from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
            raise FetchError(f"GET {url}: {getattr(e, 'reason', e)}") from None

    def get_text(self, path, params=None) -> str:
        try:
            return self.get(path, params).decode("utf-8")
        except UnicodeDecodeError:
            raise VerifyError(f"GET {path}: response is not UTF-8") from None

    def get_json(self, path, params=None):
        try:
            return json.loads(self.get_text(path, params))
        except ValueError:
            raise VerifyError(f"GET {path}: response is not JSON") from None


def field_of(obj, name, typ, what):
    """obj[name], which must exist and be of type typ (bool is not an int)."""
    if not isinstance(obj, dict) or name not in obj:
        raise VerifyError(f"{what}: missing field {name!r}")
    v = obj[name]
    if not isinstance(v, typ) or (typ is int and isinstance(v, bool)):
        raise VerifyError(f"{what}: field {name!r} has the wrong type ({type(v).__name__})")
    return v


def decode_proof(items, what):
    if not isinstance(items, list):
        raise VerifyError(f"{what}: proof is not a list")
    return [b64decode_strict(p, f"{what} element {i}", HASH_LEN) for i, p in enumerate(items)]


# --------------------------------------------------------------------------
# The audit.
# --------------------------------------------------------------------------


def sample_points(lo, hi, full_below, count, rng, extra=()):
    """All integers in [lo, hi] if there are at most full_below of them, else
    about `count` of them: evenly spread, random, both ends and `extra`."""
    if hi < lo:
        return []
    if hi - lo + 1 <= full_below:
        return list(range(lo, hi + 1))
    pts = {lo, hi}
    half = max(count // 2, 1)
    pts.update(lo + (hi - lo) * i // half for i in range(half + 1))
    pts.update(rng.randint(lo, hi) for _ in range(count - half))
    pts.update(x for x in extra if lo <= x <= hi)
    return sorted(pts)


@dataclass
class Summary:
    entries: int = 0
    root: bytes = b""
    inclusion: int = 0
    consistency: int = 0
    receipts: int = 0
    previous: int = 0

    def line(self):
        return (
            f"ledger OK: {self.entries} entries, root {self.root.hex()}, checked "
            f"{self.inclusion} inclusion and {self.consistency} consistency proofs, "
            f"{self.receipts} receipts"
        )


class LedgerVerifier:
    def __init__(self, url, timeout=30.0, sample=500, full_below=2000, page_size=1000, warn=None, rng=None):
        self.client = Client(url, timeout)
        self.sample = sample
        self.full_below = full_below
        self.page_size = page_size
        self.warn = warn or (lambda msg: print(f"note: {msg}", file=sys.stderr))
        self.rng = rng or random.SystemRandom()
        self.summary = Summary()

    # -- trust ---------------------------------------------------------------

    def load_trust(self):
        trust = self.client.get_json("/v1/trust")
        self.origin = field_of(trust, "ledger_origin", str, "/v1/trust")
        keys = field_of(trust, "ledger_keys", list, "/v1/trust")
        self.keys = []
        for i, k in enumerate(keys):
            what = f"/v1/trust ledger_keys[{i}]"
            pem = field_of(k, "public_key_pem", str, what)
            state = field_of(k, "state", str, what)
            if state not in ("active", "retired", "destroyed"):
                raise VerifyError(f"{what}: unknown state {state!r}")
            try:
                key = ledger_key_from_spki(self.origin, spki_der_from_pem(pem), state)
            except VerifyError as e:
                raise VerifyError(f"{what}: {e}") from None
            published = k.get("note_key_id")
            if published is not None and published != key.key_id.hex():
                raise VerifyError(
                    f"{what}: note_key_id {published!r} != SHA-256(SPKI)[:4] = {key.key_id.hex()}"
                )
            self.keys.append(key)
        if not self.keys:
            raise VerifyError("/v1/trust lists no ledger keys")
        self.trust_checkpoint = trust.get("checkpoint")

    def checkpoint(self, note, what):
        return verify_checkpoint(note, self.origin, self.keys, what)

    # -- entries -------------------------------------------------------------

    def fetch_entries(self, size, wanted_sizes, keep=()):
        """Fetch leaves 0..size-1 (paged), check each entry, recompute the tree.

        Returns (entries, leaf_hashes, roots): entries[i] is the parsed entry
        for every i in keep, leaf_hashes all leaf hashes, roots[m] the MTH of
        the first m leaves for every m in wanted_sizes.
        """
        entries, leaf_hashes, roots = {}, HashList(), {}
        tree = TreeBuilder()
        if 0 in wanted_sizes:
            roots[0] = tree.root()
        while tree.size < size:
            start = tree.size
            end = min(size, start + self.page_size)
            page = self.client.get_json("/v1/ledger/entries", {"start": start, "end": end})
            items = field_of(page, "entries", list, f"entries [{start},{end})")
            if not items:
                raise VerifyError(f"entries [{start},{end}): server returned no entries (tree size {size})")
            if len(items) > end - start:
                raise VerifyError(f"entries [{start},{end}): server returned {len(items)} entries")
            for item in items:
                i = tree.size
                what = f"leaf {i}"
                idx = field_of(item, "leaf_index", int, what)
                if idx != i:
                    raise VerifyError(f"{what}: served with leaf_index {idx}")
                entry = field_of(item, "entry", str, what)
                served = b64decode_strict(field_of(item, "leaf_hash", str, what), f"{what} leaf_hash", HASH_LEN)
                try:
                    obj = check_entry(entry)
                except VerifyError as e:
                    raise VerifyError(f"{what}: {e}") from None
                computed = hash_leaf(entry.encode("utf-8"))
                if computed != served:
                    raise VerifyError(
                        f"{what}: leaf hash mismatch: served {served.hex()}, "
                        f"SHA-256(0x00 || entry) = {computed.hex()}"
                    )
                if i in keep:
                    entries[i] = obj
                leaf_hashes.append(computed)
                tree.append(computed)
                if tree.size in wanted_sizes:
                    roots[tree.size] = tree.root()
        return entries, leaf_hashes, roots

    # -- proofs from the server ---------------------------------------------

    def check_inclusion(self, index, size, leaf_hash, root, by_hash=False):
        what = f"inclusion proof for leaf {index} in tree size {size}"
        params = {"leaf_hash": leaf_hash.hex()} if by_hash else {"leaf_index": index}
        params["tree_size"] = size
        resp = self.client.get_json("/v1/ledger/proof/inclusion", params)
        got_index = field_of(resp, "leaf_index", int, what)
        got_size = field_of(resp, "tree_size", int, what)
        if got_size != size:
            raise VerifyError(f"{what}: server answered for tree size {got_size}")
        if got_index != index:
            # Looked up by hash: another leaf with the same hash is acceptable.
            if not (by_hash and 0 <= got_index < len(self.leaf_hashes) and self.leaf_hashes[got_index] == leaf_hash):
                raise VerifyError(f"{what}: server answered for leaf {got_index}")
            index = got_index
        proof = decode_proof(field_of(resp, "inclusion_proof", list, what), what)
        verify_inclusion(index, size, leaf_hash, proof, root)
        self.summary.inclusion += 1

    def check_consistency(self, old, new):
        """Checkpoint `old` is a prefix of checkpoint `new` (old.size <= new.size)."""
        if old.size == new.size or old.size == 0:
            verify_consistency(old.size, new.size, old.root, new.root, [])
            return
        what = f"consistency proof {old.size} -> {new.size}"
        resp = self.client.get_json("/v1/ledger/proof/consistency", {"first": old.size, "second": new.size})
        if field_of(resp, "first", int, what) != old.size or field_of(resp, "second", int, what) != new.size:
            raise VerifyError(f"{what}: server answered for {resp.get('first')} -> {resp.get('second')}")
        proof = decode_proof(field_of(resp, "consistency_proof", list, what), what)
        verify_consistency(old.size, new.size, old.root, new.root, proof)
        self.summary.consistency += 1

    def check_prefix(self, cp, what):
        """An older checkpoint must be the root of the first cp.size leaves we fetched."""
        if cp.size > self.current.size:
            raise VerifyError(
                f"{what}: tree size {cp.size} is larger than the current checkpoint's {self.current.size} "
                "(log rolled back or forked)"
            )
        if self.roots[cp.size] != cp.root:
            raise VerifyError(
                f"{what}: root {cp.root.hex()} at size {cp.size} != recomputed {self.roots[cp.size].hex()} "
                "(history rewritten)"
            )
        self.check_consistency(cp, self.current)

    # -- receipts -------------------------------------------------------------

    def check_receipt(self, label, resp, cp):
        what = f"receipt {label}"
        r = resp["receipt"]
        index = field_of(r, "leaf_index", int, what)
        size = field_of(r, "tree_size", int, what)
        if size != cp.size:
            raise VerifyError(f"{what}: tree_size {size} != its checkpoint's size {cp.size}")
        if not 0 <= index < size:
            raise VerifyError(f"{what}: leaf_index {index} is outside tree size {size}")
        if size > self.current.size:
            raise VerifyError(f"{what}: tree size {size} is larger than the current checkpoint's {self.current.size}")

        # The leaf must record this very certificate (SHA-256 of its DER) and serial.
        der = b64decode_strict(field_of(resp, "certificate", str, what), f"{what} certificate")
        serial = field_of(resp, "serial", str, what)
        try:
            cert_serial = x509.load_der_x509_certificate(der).serial_number
        except ValueError as e:
            raise VerifyError(f"{what}: certificate is not DER X.509 ({e})") from None
        cert_sha256 = hashlib.sha256(der).hexdigest()
        entry = self.entries[index]
        if entry["type"] != "issuance":
            raise VerifyError(f"{what}: leaf {index} is a {entry['type']} entry, not an issuance")
        if entry["cert_sha256"] != cert_sha256:
            raise VerifyError(
                f"{what}: leaf {index} records cert_sha256 {entry['cert_sha256']}, the certificate's is {cert_sha256}"
            )
        try:  # compared as numbers: hex case and leading zeroes are presentation
            same_serial = int(entry["serial"], 16) == int(serial, 16) == cert_serial
        except ValueError:
            same_serial = False
        if not same_serial:
            raise VerifyError(
                f"{what}: serials differ: response {serial!r}, leaf {index} {entry['serial']!r}, "
                f"certificate {cert_serial:x}"
            )

        # The receipt's own proof against the receipt's own checkpoint...
        proof = decode_proof(field_of(r, "inclusion_proof", list, what), what)
        try:
            verify_inclusion(index, size, self.leaf_hashes[index], proof, cp.root)
        except VerifyError as e:
            raise VerifyError(f"{what}: {e}") from None
        self.summary.inclusion += 1
        # ...and that checkpoint must be a prefix of the current tree.
        try:
            self.check_prefix(cp, f"{what} checkpoint")
        except VerifyError as e:
            msg = str(e)
            raise VerifyError(msg if msg.startswith(what) else f"{what}: {msg}") from None
        self.summary.receipts += 1

    # -- the whole audit ------------------------------------------------------

    def run(self, receipts=(), previous=()):
        """receipts: [(label, issuance response dict)]; previous: [(label, note text)]."""
        self.load_trust()

        # Current checkpoint: signature by a trusted key, then size and root.
        self.current = self.checkpoint(self.client.get_text("/v1/ledger/checkpoint"), "current checkpoint")
        if not any(k.state == "active" for k in self.current.signed_by):
            self.warn("the current checkpoint is signed only by retired ledger keys")

        # /v1/ledger/sth must carry the same tree head as its own checkpoint.
        sth = self.client.get_json("/v1/ledger/sth")
        sth_cp = self.checkpoint(field_of(sth, "checkpoint", str, "/v1/ledger/sth"), "sth checkpoint")
        sth_root = b64decode_strict(field_of(sth, "root_hash", str, "/v1/ledger/sth"), "sth root_hash", HASH_LEN)
        if field_of(sth, "tree_size", int, "/v1/ledger/sth") != sth_cp.size or sth_root != sth_cp.root:
            raise VerifyError("/v1/ledger/sth: tree_size/root_hash differ from its own checkpoint")
        others = [(sth_cp, "sth checkpoint")]
        if self.trust_checkpoint is not None:
            others.append((self.checkpoint(self.trust_checkpoint, "/v1/trust checkpoint"), "/v1/trust checkpoint"))

        # Saved checkpoints and receipts: signatures now, history checks later.
        prev_cps = [(self.checkpoint(note, f"previous checkpoint {label}"), f"previous checkpoint {label}")
                    for label, note in previous]
        receipt_cps = []
        for label, resp in receipts:
            what = f"receipt {label}"
            rec = field_of(resp, "receipt", dict, what)
            receipt_cps.append((label, resp, self.checkpoint(field_of(rec, "checkpoint", str, what), f"{what} checkpoint")))

        # Which prefix roots we will need.
        size = self.current.size
        cons_sizes = sample_points(1, size, self.full_below, self.sample, self.rng,
                                   extra=[1 << b for b in range(size.bit_length())])
        wanted = set(cons_sizes) | {0, size}
        wanted |= {cp.size for cp, _ in prev_cps + others if cp.size <= size}
        wanted |= {cp.size for _, _, cp in receipt_cps if cp.size <= size}

        # Every entry: canonical, leaf hash as served; then the tree head.
        keep = {field_of(resp["receipt"], "leaf_index", int, f"receipt {label}") for label, resp, _ in receipt_cps}
        self.entries, self.leaf_hashes, self.roots = self.fetch_entries(size, wanted, keep)
        self.summary.entries = size
        if self.roots[size] != self.current.root:
            raise VerifyError(
                f"current checkpoint: root {self.current.root.hex()} != MTH of the {size} entries "
                f"{self.roots[size].hex()}"
            )
        self.summary.root = self.current.root

        # Inclusion proofs for a sample of leaves (all of a small log).
        indices = sample_points(0, size - 1, self.full_below, self.sample, self.rng)
        for i in indices:
            self.check_inclusion(i, size, self.leaf_hashes[i], self.current.root)
        if indices:  # the leaf_hash= form of the same endpoint, once
            self.check_inclusion(indices[-1], size, self.leaf_hashes[indices[-1]], self.current.root, by_hash=True)

        # Consistency proofs from a sample of earlier sizes to the current one.
        for m in cons_sizes:
            self.check_consistency(Checkpoint(self.origin, m, self.roots[m]), self.current)

        # Saved checkpoints: nothing removed or rewritten since.
        for cp, what in prev_cps:
            self.check_prefix(cp, what)
            self.summary.previous += 1

        # Receipts of issued credentials.
        for label, resp, cp in receipt_cps:
            self.check_receipt(label, resp, cp)

        # Tree heads served elsewhere (may be newer than the one we audited).
        for cp, what in others:
            if cp.size <= size:
                self.check_prefix(cp, what)
            else:
                self.check_consistency(self.current, cp)
        return self.summary


def load_json_file(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise FetchError(f"{path}: {e.strerror}") from None
    except ValueError as e:
        raise VerifyError(f"{path}: not JSON ({e})") from None


def load_text_file(path):
    try:
        with open(path, encoding="utf-8", newline="") as f:
            return f.read()
    except OSError as e:
        raise FetchError(f"{path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise VerifyError(f"{path}: not UTF-8") from None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="service base URL, e.g. http://127.0.0.1:8080")
    ap.add_argument("--receipts", action="extend", nargs="+", default=[], metavar="FILE",
                    help="JSON list of issuance responses whose receipts to check")
    ap.add_argument("--previous-checkpoint", action="extend", nargs="+", default=[], metavar="FILE",
                    help="a signed checkpoint saved earlier; the log must have only grown since")
    ap.add_argument("--sample", type=int, default=500, help="proofs of each kind to check on a large log")
    ap.add_argument("--full-below", type=int, default=2000, help="check every proof when the log has at most this many leaves")
    ap.add_argument("--page-size", type=int, default=1000, help="entries to ask for per request")
    ap.add_argument("--timeout", type=float, default=30.0, help="HTTP timeout in seconds")
    args = ap.parse_args(argv)

    try:
        previous = [(p, load_text_file(p)) for p in args.previous_checkpoint]
        receipts = []
        for path in args.receipts:
            data = load_json_file(path)
            items = data if isinstance(data, list) else [data]
            receipts += [(f"{path}[{i}]", item) for i, item in enumerate(items)]
        v = LedgerVerifier(args.url, args.timeout, args.sample, args.full_below, args.page_size)
        summary = v.run(receipts=receipts, previous=previous)
    except VerifyError as e:
        print(f"ledger FAILED: {e}", file=sys.stderr)
        return 1
    except FetchError as e:
        print(f"ledger NOT VERIFIED (fetch error): {e}", file=sys.stderr)
        return 2
    print(summary.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
