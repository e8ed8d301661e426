"""Tests for verify_ledger.py.

Run: /work/main/.venv/bin/python -m unittest discover -s tests/verifier

- RFC 6962 "classic" vectors (the 8-leaf tree used by certificate-transparency
  and transparency-dev/merkle, proof/verify_test.go and rfc6962/rfc6962_test.go);
- every inclusion and consistency proof for trees of 1..64 leaves, made by a
  reference generator written straight from RFC 9162 2.1.3.1 / 2.1.4.1, plus
  mutations of them that must fail;
- C2SP signed notes / checkpoints with keys made by `cryptography`;
- the canonical-entry check;
- the CLI end to end against a small fake ledger server (http.server).
"""

import base64
import datetime
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import unittest
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import verify_ledger as vl  # noqa: E402

VERIFY = os.path.join(HERE, "verify_ledger.py")


def h(hexstr):
    return bytes.fromhex(hexstr)


# ---------------------------------------------------------------------------
# Reference generator: RFC 9162 2.1.1 (MTH), 2.1.3.1 (PATH), 2.1.4.1 (PROOF),
# written as the recursive definitions, independent of the iterative code.
# ---------------------------------------------------------------------------


def _split(n):
    """k: the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def ref_mth(hs):
    n = len(hs)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hs[0]
    k = _split(n)
    return vl.hash_children(ref_mth(hs[:k]), ref_mth(hs[k:]))


def ref_path(m, hs):
    n = len(hs)
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return ref_path(m, hs[:k]) + [ref_mth(hs[k:])]
    return ref_path(m - k, hs[k:]) + [ref_mth(hs[:k])]


def ref_subproof(m, hs, b):
    n = len(hs)
    if m == n:
        return [] if b else [ref_mth(hs)]
    k = _split(n)
    if m <= k:
        return ref_subproof(m, hs[:k], b) + [ref_mth(hs[k:])]
    return ref_subproof(m - k, hs[k:], False) + [ref_mth(hs[:k])]


def ref_proof(m, hs):
    return ref_subproof(m, hs, True)


def ok(fn, *args):
    try:
        fn(*args)
        return True
    except vl.VerifyError:
        return False


# ---------------------------------------------------------------------------
# RFC 6962 classic vectors.
# ---------------------------------------------------------------------------

CLASSIC_LEAVES = [h(x) for x in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f",
)]
CLASSIC_ROOTS = [h(x) for x in (  # MTH of the first 1..8 leaves
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]
# (leaf index, tree size, path); the published table numbers leaves from 1.
CLASSIC_INCLUSION = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
CLASSIC_CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")


def inclusion_mutations(index, size, leaf, proof, root):
    """Probes that must all fail (after the ideas of the CT / trillian tests)."""
    out = [
        ("index-1", index - 1, size, leaf, proof, root),
        ("index+1", index + 1, size, leaf, proof, root),
        ("index^2", index ^ 2, size, leaf, proof, root),
        ("size*2", index, size * 2, leaf, proof, root),
        ("size//2", index, size // 2, leaf, proof, root),
        ("wrong leaf", index, size, SOME_HASH, proof, root),
        ("empty root", index, size, leaf, proof, vl.EMPTY_ROOT),
        ("random root", index, size, leaf, proof, SOME_HASH),
        ("trailing garbage", index, size, leaf, proof + [b""], root),
        ("trailing root", index, size, leaf, proof + [root], root),
        ("preceding garbage", index, size, leaf, [b""] + proof, root),
        ("preceding root", index, size, leaf, [root] + proof, root),
    ]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 8]) + bad[i][1:]
        out.append((f"bit flip proof[{i}]", index, size, leaf, bad, root))
    if proof:
        out.append(("removed last", index, size, leaf, proof[:-1], root))
    if len(proof) > 1:
        out.append(("inserted", index, size, leaf, [proof[0], SOME_HASH] + proof[1:], root))
        out.append(("swapped", index, size, leaf, [proof[1], proof[0]] + proof[2:], root))
    return out


def consistency_mutations(m, n, r1, r2, proof):
    out = [
        ("m-1", m - 1, n, r1, r2, proof),
        ("m+1", m + 1, n, r1, r2, proof),
        ("m^2", m ^ 2, n, r1, r2, proof),
        ("n*2", m, n * 2, r1, r2, proof),
        ("n//2", m, n // 2, r1, r2, proof),
        ("wrong root1", m, n, SOME_HASH, r2, proof),
        ("wrong root2", m, n, r1, SOME_HASH, proof),
        ("swapped roots", m, n, r2, r1, proof),
        ("empty proof", m, n, r1, r2, []),
        ("trailing garbage", m, n, r1, r2, proof + [b""]),
        ("trailing root1", m, n, r1, r2, proof + [r1]),
        ("trailing root2", m, n, r1, r2, proof + [r2]),
        ("preceding garbage", m, n, r1, r2, [b""] + proof),
        ("preceding root1", m, n, r1, r2, [r1] + proof),
        ("preceding root2", m, n, r1, r2, [r2] + proof),
        ("preceding proof[0]", m, n, r1, r2, [proof[0]] + proof),
        ("truncated", m, n, r1, r2, proof[:-1]),
    ]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 16]) + bad[i][1:]
        out.append((f"bit flip proof[{i}]", m, n, r1, r2, bad))
    return out


class MerkleTest(unittest.TestCase):
    def test_hasher_vectors(self):
        self.assertEqual(vl.EMPTY_ROOT.hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        self.assertEqual(vl.hash_leaf(b"").hex(), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
        self.assertEqual(vl.hash_leaf(b"L123456").hex(), "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56")
        self.assertEqual(vl.hash_children(b"N123", b"N456").hex(),
                         "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb")
        self.assertEqual(vl.mth([]), vl.EMPTY_ROOT)

    def test_classic_roots(self):
        hs = [vl.hash_leaf(d) for d in CLASSIC_LEAVES]
        for n in range(1, 9):
            self.assertEqual(vl.mth(hs[:n]), CLASSIC_ROOTS[n - 1], f"size {n}")
            self.assertEqual(ref_mth(hs[:n]), CLASSIC_ROOTS[n - 1], f"reference, size {n}")
        # TreeBuilder gives every prefix root on the way.
        t = vl.TreeBuilder()
        for n, leaf in enumerate(hs, 1):
            t.append(leaf)
            self.assertEqual(t.root(), CLASSIC_ROOTS[n - 1])

    def test_classic_inclusion(self):
        hs = [vl.hash_leaf(d) for d in CLASSIC_LEAVES]
        for index, size, path in CLASSIC_INCLUSION:
            proof = [h(x) for x in path]
            self.assertEqual(ref_path(index, hs[:size]), proof, "reference generator agrees with the vector")
            vl.verify_inclusion(index, size, hs[index], proof, CLASSIC_ROOTS[size - 1])
            for name, *probe in inclusion_mutations(index, size, hs[index], proof, CLASSIC_ROOTS[size - 1]):
                self.assertFalse(ok(vl.verify_inclusion, *probe), f"leaf {index} size {size}: {name} verified")

    def test_classic_consistency(self):
        hs = [vl.hash_leaf(d) for d in CLASSIC_LEAVES]
        for m, n, path in CLASSIC_CONSISTENCY:
            proof = [h(x) for x in path]
            self.assertEqual(ref_proof(m, hs[:n]), proof, "reference generator agrees with the vector")
            r1, r2 = CLASSIC_ROOTS[m - 1], CLASSIC_ROOTS[n - 1]
            vl.verify_consistency(m, n, r1, r2, proof)
            if proof:
                for name, *probe in consistency_mutations(m, n, r1, r2, proof):
                    self.assertFalse(ok(vl.verify_consistency, *probe), f"{m}->{n}: {name} verified")

    def test_single_leaf_and_edges(self):
        leaf = vl.hash_leaf(b"data")
        vl.verify_inclusion(0, 1, leaf, [], leaf)
        self.assertFalse(ok(vl.verify_inclusion, 0, 1, leaf, [], b""))
        self.assertFalse(ok(vl.verify_inclusion, 0, 1, b"", [], leaf))
        for index, size in ((0, 0), (1, 0), (1, 1), (2, 1)):
            self.assertFalse(ok(vl.verify_inclusion, index, size, SOME_HASH, [], vl.EMPTY_ROOT))
        # Consistency trivia (RFC 9162 2.1.4: the empty tree and equal sizes).
        a, b = SOME_HASH, vl.EMPTY_ROOT
        vl.verify_consistency(0, 0, a, a, [])
        vl.verify_consistency(0, 5, a, b, [])
        vl.verify_consistency(3, 3, a, a, [])
        self.assertFalse(ok(vl.verify_consistency, 3, 3, a, b, []))
        self.assertFalse(ok(vl.verify_consistency, 3, 3, a, a, [a]))
        self.assertFalse(ok(vl.verify_consistency, 0, 1, a, b, [a]))
        self.assertFalse(ok(vl.verify_consistency, 2, 1, a, b, []))
        self.assertFalse(ok(vl.verify_consistency, 1, 2, a, b, []))

    def test_all_sizes_up_to_64(self):
        hs = [vl.hash_leaf(b"leaf %d" % i) for i in range(64)]
        roots = [ref_mth(hs[:n]) for n in range(65)]
        t = vl.TreeBuilder()
        for n in range(1, 65):
            t.append(hs[n - 1])
            self.assertEqual(t.root(), roots[n], f"MTH size {n}")
        inclusion = consistency = 0
        for n in range(1, 65):
            for i in range(n):
                proof = ref_path(i, hs[:n])
                vl.verify_inclusion(i, n, hs[i], proof, roots[n])
                inclusion += 1
                for name, *probe in inclusion_mutations(i, n, hs[i], proof, roots[n]):
                    self.assertFalse(ok(vl.verify_inclusion, *probe), f"leaf {i} size {n}: {name} verified")
                # The wrong leaf at the right position never verifies.
                if n > 1:
                    self.assertFalse(ok(vl.verify_inclusion, i, n, hs[(i + 1) % n], proof, roots[n]))
            for m in range(1, n + 1):
                proof = ref_proof(m, hs[:n])
                vl.verify_consistency(m, n, roots[m], roots[n], proof)
                consistency += 1
                if m < n:
                    for name, *probe in consistency_mutations(m, n, roots[m], roots[n], proof):
                        self.assertFalse(ok(vl.verify_consistency, *probe), f"{m}->{n}: {name} verified")
                    # Any other old size with this proof and root fails.
                    for other in range(1, n):
                        if other != m:
                            self.assertFalse(ok(vl.verify_consistency, other, n, roots[other], roots[n], proof),
                                             f"proof {m}->{n} accepted as {other}->{n}")
        self.assertEqual(inclusion, 64 * 65 // 2)
        self.assertEqual(consistency, 64 * 65 // 2)


# ---------------------------------------------------------------------------
# Signed notes and checkpoints.
# ---------------------------------------------------------------------------

ORIGIN = "onevisit.test/ledger"


def new_key():
    return ec.generate_private_key(ec.SECP256R1())


def spki(key):
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def pem(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def kid(key):
    return hashlib.sha256(spki(key)).digest()[:4]


def sig_line(key, text, name=ORIGIN, key_id=None):
    sig = key.sign(text.encode(), ec.ECDSA(hashes.SHA256()))
    return f"\u2014 {name} {base64.b64encode((key_id or kid(key)) + sig).decode()}\n"


def checkpoint_text(size, root, origin=ORIGIN):
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def sign_note(text, *keys):
    return text + "\n" + "".join(sig_line(k, text) for k in keys)


def trusted(*keys, state="active"):
    return [vl.ledger_key_from_spki(ORIGIN, spki(k), state) for k in keys]


class SignedNoteTest(unittest.TestCase):
    def setUp(self):
        self.key, self.other = new_key(), new_key()
        self.root = hashlib.sha256(b"root").digest()
        self.text = checkpoint_text(42, self.root)

    def test_key_id_from_pem(self):
        self.assertEqual(vl.note_key_id(vl.spki_der_from_pem(pem(self.key))), kid(self.key))
        self.assertEqual(trusted(self.key)[0].key_id, kid(self.key))

    def test_non_p256_key_rejected(self):
        p384 = ec.generate_private_key(ec.SECP384R1())
        with self.assertRaises(vl.VerifyError):
            vl.ledger_key_from_spki(ORIGIN, spki(p384))

    def test_valid_checkpoint(self):
        cp = vl.verify_checkpoint(sign_note(self.text, self.key), ORIGIN, trusted(self.key))
        self.assertEqual((cp.origin, cp.size, cp.root), (ORIGIN, 42, self.root))

    def test_unknown_second_signature_ignored(self):
        for note in (sign_note(self.text, self.key, self.other), sign_note(self.text, self.other, self.key)):
            cp = vl.verify_checkpoint(note, ORIGIN, trusted(self.key))
            self.assertEqual(cp.size, 42)
            self.assertEqual(len(cp.signed_by), 1)

    def test_rotation_both_keys_sign(self):
        keys = trusted(self.key, state="retired") + trusted(self.other)
        cp = vl.verify_checkpoint(sign_note(self.text, self.key, self.other), ORIGIN, keys)
        self.assertEqual(sorted(k.state for k in cp.signed_by), ["active", "retired"])

    def test_only_unknown_signatures(self):
        with self.assertRaisesRegex(vl.VerifyError, "no signature from a trusted"):
            vl.verify_checkpoint(sign_note(self.text, self.other), ORIGIN, trusted(self.key))

    def test_tampered_body(self):
        note = sign_note(self.text, self.key).replace("\n42\n", "\n43\n", 1)
        with self.assertRaisesRegex(vl.VerifyError, "does not verify"):
            vl.verify_checkpoint(note, ORIGIN, trusted(self.key))

    def test_bad_signature_from_known_key_rejects_note(self):
        # A trusted key's signature that fails rejects the note even when
        # another trusted key's signature is good (C2SP signed-note SHOULD).
        bad = sig_line(self.other, "something else\n", key_id=kid(self.other))
        note = self.text + "\n" + sig_line(self.key, self.text) + bad
        with self.assertRaisesRegex(vl.VerifyError, "does not verify"):
            vl.verify_checkpoint(note, ORIGIN, trusted(self.key, self.other))

    def test_wrong_key_id(self):
        # Right key and name, wrong 4-byte key id: the line belongs to an
        # unknown key, is ignored, and nothing else verifies.
        note = self.text + "\n" + sig_line(self.key, self.text, key_id=b"\x00\x01\x02\x03")
        with self.assertRaisesRegex(vl.VerifyError, "no signature from a trusted"):
            vl.verify_checkpoint(note, ORIGIN, trusted(self.key))
        # Known key id under another key name: also an unknown key.
        note = self.text + "\n" + sig_line(self.key, self.text, name="other.example/log")
        with self.assertRaisesRegex(vl.VerifyError, "no signature from a trusted"):
            vl.verify_checkpoint(note, ORIGIN, trusted(self.key))

    def test_origin_mismatch(self):
        note = sign_note(checkpoint_text(42, self.root, origin="other.example/log"), self.key)
        with self.assertRaisesRegex(vl.VerifyError, "origin"):
            vl.verify_checkpoint(note, ORIGIN, trusted(self.key))

    def test_malformed_notes(self):
        good = sign_note(self.text, self.key)
        sig = good[len(self.text) + 1:]
        cases = {
            "no final newline": good[:-1],
            "no blank line": self.text + sig,
            "no signatures": self.text + "\n",
            "trailing blank line": good + "\n",
            "CR": good.replace("\n", "\r\n"),
            "hyphen instead of em dash": self.text + "\n" + sig.replace("\u2014", "-"),
            "bad base64": self.text + "\n" + sig[:-3] + "!!\n",
            "short signature": self.text + "\n" + f"\u2014 {ORIGIN} AAAA\n",
            "space in key name": self.text + "\n" + sig.replace(ORIGIN, "a b"),
            "too many signatures": self.text + "\n" + sig * (vl.MAX_SIGNATURES + 1),
        }
        for name, note in cases.items():
            with self.subTest(name):
                self.assertFalse(ok(vl.verify_checkpoint, note, ORIGIN, trusted(self.key)), name)

    def test_malformed_checkpoint_bodies(self):
        r = base64.b64encode(self.root).decode()
        cases = {
            "leading zero": f"{ORIGIN}\n042\n{r}\n",
            "negative": f"{ORIGIN}\n-1\n{r}\n",
            "short root": f"{ORIGIN}\n42\n{base64.b64encode(self.root[:31]).decode()}\n",
            "unpadded root": f"{ORIGIN}\n42\n{r.rstrip('=')}\n",
            "two lines": f"{ORIGIN}\n42\n",
            "extension line": f"{ORIGIN}\n42\n{r}\nextra\n",
            "empty origin": f"\n42\n{r}\n",
        }
        for name, text in cases.items():
            with self.subTest(name):
                self.assertFalse(ok(vl.verify_checkpoint, sign_note(text, self.key), ORIGIN, trusted(self.key)), name)
        # Size 0 is written "0".
        cp = vl.verify_checkpoint(sign_note(checkpoint_text(0, vl.EMPTY_ROOT), self.key), ORIGIN, trusted(self.key))
        self.assertEqual(cp.size, 0)

    def test_note_text_with_inner_blank_line_is_split_at_last(self):
        text, sigs = vl.parse_signed_note("a\n\nb\n\n\u2014 k " + base64.b64encode(b"12345").decode() + "\n")
        self.assertEqual(text, "a\n\nb\n")
        self.assertEqual(sigs[0].key_id, b"1234")


# ---------------------------------------------------------------------------
# Canonical entries.
# ---------------------------------------------------------------------------

SHA = "ab" * 32


def issuance(serial="0a1b", kind="identity", at=1700000000, cert_sha256=SHA):
    return vl.canonical_json({"type": "issuance", "at": at, "cert_sha256": cert_sha256,
                              "issuer_key_id": "cd" * 32, "kind": kind, "serial": serial}).decode()


class EntryTest(unittest.TestCase):
    def test_valid_entries(self):
        self.assertEqual(issuance(), '{"at":1700000000,"cert_sha256":"%s","issuer_key_id":"%s",'
                                     '"kind":"identity","serial":"0a1b","type":"issuance"}' % (SHA, "cd" * 32))
        vl.check_entry(issuance())
        vl.check_entry(issuance(kind="license"))
        vl.check_entry('{"at":1,"reason":"keyCompromise","serial":"0a","type":"revocation"}')
        vl.check_entry('{"at":1,"reason":"caf\u00e9 \u2014 \\"quoted\\"","serial":"0a","type":"revocation"}')
        vl.check_entry('{"at":1,"cert_sha256":"%s","event":"retired","key_id":"01","purpose":"ledger","type":"key"}' % SHA)

    def test_not_canonical(self):
        e = issuance()
        cases = {
            "space after colon": e.replace('"at":', '"at": '),
            "newline": e + "\n",
            "keys out of order": '{"type":"revocation","at":1,"reason":"x","serial":"0a"}',
            "escaped non-ASCII": '{"at":1,"reason":"caf\\u00e9","serial":"0a","type":"revocation"}',
            "escaped slash": '{"at":1,"reason":"a\\/b","serial":"0a","type":"revocation"}',
            "duplicate key": '{"at":1,"at":1,"reason":"x","serial":"0a","type":"revocation"}',
            "exponent time": e.replace('"at":1700000000', '"at":17e8'),
        }
        for name, entry in cases.items():
            with self.subTest(name):
                with self.assertRaisesRegex(vl.VerifyError, "not canonical|not JSON"):
                    vl.check_entry(entry)

    def test_schema(self):
        cases = {
            "unknown type": '{"at":1,"type":"other"}',
            "missing field": '{"at":1,"reason":"x","type":"revocation"}',
            "extra field": '{"at":1,"reason":"x","serial":"0a","type":"revocation","x":1}',
            "bool time": '{"at":true,"reason":"x","serial":"0a","type":"revocation"}',
            "negative time": '{"at":-1,"reason":"x","serial":"0a","type":"revocation"}',
            "string time": '{"at":"1","reason":"x","serial":"0a","type":"revocation"}',
            "float time": '{"at":1.0,"reason":"x","serial":"0a","type":"revocation"}',
            "upper-case hex": issuance(serial="0A1B"),
            "short cert hash": issuance(cert_sha256="ab"),
            "bad kind": issuance(kind="passport"),
            "bad key event": '{"at":1,"cert_sha256":"%s","event":"lost","key_id":"01","purpose":"p","type":"key"}' % SHA,
            "NaN": '{"at":NaN,"reason":"x","serial":"0a","type":"revocation"}',
            "array": "[1]",
            "lone surrogate": '{"at":1,"reason":"\\ud800","serial":"0a","type":"revocation"}',
        }
        for name, entry in cases.items():
            with self.subTest(name):
                self.assertFalse(ok(vl.check_entry, entry), name)

    def test_key_certified_event(self):
        certified = '{"at":2,"cert_sha256":"%s","event":"certified","key_id":"01","purpose":"root","type":"key"}' % SHA
        self.assertEqual(vl.check_entry(certified)["event"], "certified")
        # The key-request events are not key events.
        for event in ("requested", "approved", "Certified"):
            with self.subTest(event):
                self.assertFalse(ok(vl.check_entry, certified.replace("certified", event)), event)


# The exact bytes the Rust ledger crate writes for this entry
# (ledger/src/entry.rs, tests, JSON_KEY_REQUEST): both sides must agree.
RUST_KEY_REQUEST = ('{"at":1795000002,"event":"requested","purpose":"root",'
                    '"request_id":"6f1c2a9e-0b3d-4e5f-8a7b-9c0d1e2f3a4b","staff_id":7,"type":"key-request"}')
REQUEST_ID = "6f1c2a9e-0b3d-4e5f-8a7b-9c0d1e2f3a4b"


def key_request(**fields):
    obj = {"type": "key-request", "at": 1795000002, "event": "requested", "purpose": "root",
           "request_id": REQUEST_ID, "staff_id": 7}
    obj.update(fields)
    return vl.canonical_json(obj).decode()


class KeyRequestEntryTest(unittest.TestCase):
    def test_rust_encoding_accepted(self):
        self.assertEqual(key_request(), RUST_KEY_REQUEST)
        obj = vl.check_entry(RUST_KEY_REQUEST)
        self.assertEqual(obj, {"at": 1795000002, "event": "requested", "purpose": "root",
                               "request_id": REQUEST_ID, "staff_id": 7, "type": "key-request"})
        self.assertEqual(vl.check_entry(key_request(event="approved", staff_id=8))["event"], "approved")
        vl.check_entry(key_request(staff_id=1))
        vl.check_entry(key_request(staff_id=2**63 - 1))
        vl.check_entry(key_request(request_id="01234567-89ab-cdef-0123-456789abcdef", purpose="identity-ca"))

    def test_invalid_values(self):
        cases = {
            "key event": key_request(event="activated"),
            "certified": key_request(event="certified"),
            "capitalised event": key_request(event="Requested"),
            "empty purpose": key_request(purpose=""),
            "upper-case request_id": key_request(request_id=REQUEST_ID.upper()),
            "partly upper-case request_id": key_request(request_id="6F1C2A9E" + REQUEST_ID[8:]),
            "request_id without dashes": key_request(request_id=REQUEST_ID.replace("-", "")),
            "braced request_id": key_request(request_id="{%s}" % REQUEST_ID),
            "urn request_id": key_request(request_id="urn:uuid:" + REQUEST_ID),
            "dashes misplaced": key_request(request_id="6f1c2a9-e0b3d-4e5f-8a7b-9c0d1e2f3a4b"),
            "non-hex request_id": key_request(request_id=REQUEST_ID[:-1] + "g"),
            "short request_id": key_request(request_id=REQUEST_ID[:-1]),
            "long request_id": key_request(request_id=REQUEST_ID + "0"),
            "empty request_id": key_request(request_id=""),
            "integer request_id": key_request(request_id=1),
            "staff_id 0": key_request(staff_id=0),
            "negative staff_id": key_request(staff_id=-7),
            "string staff_id": key_request(staff_id="7"),
            "bool staff_id": key_request(staff_id=True),
            "float staff_id": RUST_KEY_REQUEST.replace('"staff_id":7', '"staff_id":7.0'),
            "staff_id beyond i64": key_request(staff_id=2**63),
            "negative time": key_request(at=-1),
            "bool time": key_request(at=True),
        }
        for name, entry in cases.items():
            with self.subTest(name):
                self.assertFalse(ok(vl.check_entry, entry), name)

    def test_fields(self):
        cases = {
            "unknown extra field": key_request(approver=8),
            "key entry field": key_request(cert_sha256=""),
            "missing staff_id": RUST_KEY_REQUEST.replace('"staff_id":7,', ""),
            "missing request_id": RUST_KEY_REQUEST.replace('"request_id":"%s",' % REQUEST_ID, ""),
            "underscore type": RUST_KEY_REQUEST.replace("key-request", "key_request"),
        }
        for name, entry in cases.items():
            with self.subTest(name):
                with self.assertRaisesRegex(vl.VerifyError, "fields|unknown type"):
                    vl.check_entry(entry)

    def test_not_canonical(self):
        e = RUST_KEY_REQUEST
        cases = {
            "space after colon": e.replace(":", ": "),
            "space after comma": e.replace(",", ", "),
            "trailing space": e + " ",
            "leading newline": "\n" + e,
            "leading zero staff_id": e.replace('"staff_id":7', '"staff_id":07'),
            "type before staff_id": e.replace('"staff_id":7,"type":"key-request"', '"type":"key-request","staff_id":7'),
            "escaped dash": e.replace("key-request", "key\\u002drequest"),
            "exponent staff_id": e.replace('"staff_id":7', '"staff_id":7e0'),
        }
        for name, entry in cases.items():
            with self.subTest(name):
                with self.assertRaisesRegex(vl.VerifyError, "not canonical|not JSON"):
                    vl.check_entry(entry)


# ---------------------------------------------------------------------------
# A fake ledger server and the CLI end to end.
# ---------------------------------------------------------------------------

CA_KEY = new_key()


def make_cert(serial):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"holder {serial:x}")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(CA_KEY.public_key())
            .serial_number(serial).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .sign(CA_KEY, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


class FakeLedger:
    """An honest ledger by default; the attributes below make it lie."""

    ROTATION = 20  # checkpoints of size <= 20 are signed by the old key only

    def __init__(self, n=40, page_limit=7):
        self.old_key, self.new_key, self.stranger = new_key(), new_key(), new_key()
        self.page_limit = page_limit
        self.entries, self.issued = [], {}  # issued: leaf index -> (serial, cert DER)
        rng = random.Random(7)
        for i in range(n):
            at = 1767225600 + i
            if i == 0 or i == self.ROTATION:
                k = self.old_key if i == 0 else self.new_key
                obj = {"type": "key", "at": at, "event": "activated", "purpose": "ledger",
                       "key_id": hashlib.sha256(spki(k)).hexdigest(), "cert_sha256": hashlib.sha256(spki(k)).hexdigest()}
            elif i == self.ROTATION + 1:
                obj = {"type": "key", "at": at, "event": "retired", "purpose": "ledger",
                       "key_id": hashlib.sha256(spki(self.old_key)).hexdigest(),
                       "cert_sha256": hashlib.sha256(spki(self.old_key)).hexdigest()}
            elif i in (self.ROTATION - 2, self.ROTATION - 1):
                # The two-person rule: one ops user requests, another approves.
                obj = {"type": "key-request", "at": at, "purpose": "ledger", "request_id": REQUEST_ID,
                       "event": "requested" if i < self.ROTATION - 1 else "approved",
                       "staff_id": 3 if i < self.ROTATION - 1 else 4}
            elif i == self.ROTATION + 2:
                obj = {"type": "key", "at": at, "event": "certified", "purpose": "identity-ca",
                       "key_id": "ee" * 32, "cert_sha256": SHA}
            elif i % 5 == 4:
                serial = self.issued[i - 1][0]
                obj = {"type": "revocation", "at": at, "reason": "superseded", "serial": format(serial, "x")}
            else:
                serial = rng.getrandbits(120) | 1 << 120
                der = make_cert(serial)
                self.issued[i] = (serial, der)
                obj = {"type": "issuance", "at": at, "cert_sha256": hashlib.sha256(der).hexdigest(),
                       "issuer_key_id": "ee" * 32, "kind": "identity" if i % 2 else "license",
                       "serial": format(serial, "x")}
            self.entries.append(vl.canonical_json(obj).decode())
        self.hashes = [vl.hash_leaf(e.encode()) for e in self.entries]
        self.size = n  # current checkpoint size
        self.sth_size = None  # serve a different (newer) tree head on /sth
        # Lies:
        self.served_entries = {}  # index -> entry text served instead
        self.recompute_leaf_hash = False  # serve SHA-256 of the lie rather than the true hash
        self.bad_inclusion = set()  # leaf indices whose proofs get a flipped bit
        self.bad_consistency = set()  # first sizes whose proofs get a flipped bit
        self.fail_paths = set()  # paths answered with HTTP 500
        self.current_signers = None  # sign the current checkpoint with these keys instead
        self.wrong_note_key_id = False  # publish a wrong note_key_id in /v1/trust

    def root(self, size):
        return ref_mth(self.hashes[:size])

    def signers(self, size):
        if size <= self.ROTATION:
            return [self.old_key, self.stranger]
        return [self.stranger, self.old_key, self.new_key]

    def checkpoint(self, size, signers=None):
        return sign_note(checkpoint_text(size, self.root(size)), *(signers or self.signers(size)))

    def current_checkpoint(self):
        return self.checkpoint(self.size, self.current_signers)

    def receipt_response(self, index, size):
        serial, der = self.issued[index]
        return {"identity_id": f"id-{index}", "serial": format(serial, "x"),
                "certificate": base64.b64encode(der).decode(), "chain": [],
                "receipt": {"leaf_index": index, "tree_size": size,
                            "inclusion_proof": [vl.b64(p) for p in ref_path(index, self.hashes[:size])],
                            "checkpoint": self.checkpoint(size)}}

    def trust(self):
        keys = []
        for k, state in ((self.old_key, "retired"), (self.new_key, "active")):
            note_id = "00000000" if self.wrong_note_key_id else kid(k).hex()
            keys.append({"key_id": hashlib.sha256(spki(k)).hexdigest(), "note_key_id": note_id,
                         "state": state, "public_key_pem": pem(k)})
        return {"ledger_origin": ORIGIN, "ledger_keys": keys, "roots": [], "issuing_cas": [],
                "checkpoint": self.current_checkpoint()}

    # HTTP handling -------------------------------------------------------

    def handle(self, path, q):
        if path in self.fail_paths:
            return 500, {"type": "about:blank", "title": "boom"}
        if path == "/v1/trust":
            return 200, self.trust()
        if path == "/v1/ledger/checkpoint":
            return 200, self.current_checkpoint()
        if path == "/v1/ledger/sth":
            size = self.sth_size or self.size
            return 200, {"tree_size": size, "root_hash": vl.b64(self.root(size)),
                         "checkpoint": self.checkpoint(size)}
        if path == "/v1/ledger/entries":
            start, end = int(q["start"]), int(q["end"])
            end = min(end, start + self.page_limit, len(self.entries))
            out = []
            for i in range(start, end):
                entry = self.served_entries.get(i, self.entries[i])
                leaf = vl.hash_leaf(entry.encode()) if self.recompute_leaf_hash else self.hashes[i]
                out.append({"leaf_index": i, "entry": entry, "leaf_hash": vl.b64(leaf)})
            return 200, {"entries": out}
        if path == "/v1/ledger/proof/inclusion":
            size = int(q["tree_size"])
            if "leaf_hash" in q:
                index = self.hashes.index(bytes.fromhex(q["leaf_hash"]))
            else:
                index = int(q["leaf_index"])
            proof = ref_path(index, self.hashes[:size])
            if index in self.bad_inclusion:
                proof[0] = bytes([proof[0][0] ^ 1]) + proof[0][1:]
            return 200, {"leaf_index": index, "tree_size": size, "inclusion_proof": [vl.b64(p) for p in proof]}
        if path == "/v1/ledger/proof/consistency":
            first, second = int(q["first"]), int(q["second"])
            proof = ref_proof(first, self.hashes[:second])
            if first in self.bad_consistency:
                proof[-1] = bytes([proof[-1][0] ^ 1]) + proof[-1][1:]
            return 200, {"first": first, "second": second, "consistency_proof": [vl.b64(p) for p in proof]}
        return 404, {"type": "about:blank", "title": "not found"}


class FakeServer:
    def __init__(self, ledger):
        self.ledger = ledger
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                u = urllib.parse.urlsplit(self.path)
                q = dict(urllib.parse.parse_qsl(u.query))
                status, body = outer.ledger.handle(u.path, q)
                if isinstance(body, str):
                    data, ctype = body.encode(), "text/plain; charset=utf-8"
                else:
                    data = json.dumps(body).encode()
                    ctype = "application/json" if status == 200 else "application/problem+json"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def run_cli(*args):
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    return subprocess.run([sys.executable, VERIFY, *args], capture_output=True, text=True, timeout=300, env=env)


class CliTest(unittest.TestCase):
    def setUp(self):
        self.ledger = FakeLedger()
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def write(self, name, content):
        path = os.path.join(self.tmp.name, name)
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(content if isinstance(content, str) else json.dumps(content))
        return path

    def verify(self, *args):
        with FakeServer(self.ledger) as srv:
            return run_cli("--url", srv.url, *args)

    def assertFails(self, result, *needles):
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        for needle in needles:
            self.assertIn(needle, result.stderr)

    def test_honest_ledger(self):
        receipts = [self.ledger.receipt_response(1, 3), self.ledger.receipt_response(6, 7),
                    self.ledger.receipt_response(23, 40)]
        r = self.verify("--receipts", self.write("issued.json", receipts),
                        "--previous-checkpoint", self.write("cp10.note", self.ledger.checkpoint(10)),
                        self.write("cp40.note", self.ledger.checkpoint(40)))
        self.assertEqual(r.returncode, 0, r.stderr)
        root = self.ledger.root(40).hex()
        # Inclusion: 40 leaves + 1 looked up by leaf_hash + 3 receipts.
        # Consistency: sizes 1..39 + previous size 10 + receipts at sizes 3 and 7
        # (size 40 = current needs no proof, only equal roots).
        self.assertEqual(r.stdout.strip(),
                         f"ledger OK: 40 entries, root {root}, checked 44 inclusion and 42 consistency proofs, 3 receipts")

    def test_empty_ledger(self):
        self.ledger.size = 0
        r = self.verify()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"ledger OK: 0 entries, root {vl.EMPTY_ROOT.hex()}", r.stdout)

    def test_sampling_large_log(self):
        self.ledger = FakeLedger(n=300, page_limit=64)
        r = self.verify("--full-below", "50", "--sample", "20")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("ledger OK: 300 entries", r.stdout)
        inclusion = int(r.stdout.split("checked ")[1].split()[0])
        self.assertLess(inclusion, 60)

    def test_sth_newer_than_checkpoint(self):
        self.ledger.size, self.ledger.sth_size = 30, 40
        r = self.verify()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("ledger OK: 30 entries", r.stdout)

    def test_tampered_entry(self):
        e = json.loads(self.ledger.entries[5])
        e["cert_sha256"] = "00" * 32
        self.ledger.served_entries[5] = vl.canonical_json(e).decode()
        self.assertFails(self.verify(), "leaf 5", "leaf hash mismatch")

    def test_tampered_entry_with_matching_leaf_hash(self):
        e = json.loads(self.ledger.entries[12])
        e["at"] += 1
        self.ledger.served_entries[12] = vl.canonical_json(e).decode()
        self.ledger.recompute_leaf_hash = True
        self.assertFails(self.verify(), "current checkpoint", "MTH of the 40 entries")

    def test_non_canonical_entry(self):
        self.ledger.served_entries[9] = self.ledger.entries[9].replace(",", ", ", 1)
        self.ledger.recompute_leaf_hash = True
        self.assertFails(self.verify(), "leaf 9", "not canonical")

    def test_bad_inclusion_proof(self):
        self.ledger.bad_inclusion.add(7)
        self.assertFails(self.verify(), "inclusion proof for leaf 7 in tree size 40")

    def test_bad_consistency_proof(self):
        self.ledger.bad_consistency.add(13)
        self.assertFails(self.verify(), "consistency proof 13 -> 40")

    def test_untrusted_checkpoint_signer(self):
        self.ledger.current_signers = [self.ledger.stranger]
        self.assertFails(self.verify(), "no signature from a trusted ledger key")

    def test_checkpoint_signed_by_retired_key_only(self):
        self.ledger.current_signers = [self.ledger.old_key]
        r = self.verify()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("signed only by retired ledger keys", r.stderr)

    def test_wrong_note_key_id_in_trust(self):
        self.ledger.wrong_note_key_id = True
        self.assertFails(self.verify(), "note_key_id", "SHA-256(SPKI)[:4]")

    def test_missing_receipts_file(self):
        r = self.verify("--receipts", os.path.join(self.tmp.name, "nope.json"))
        self.assertEqual(r.returncode, 2, r.stderr)

    def test_forked_previous_checkpoint(self):
        # Signed by the trusted key, but for a history that is not ours.
        fork = sign_note(checkpoint_text(10, hashlib.sha256(b"fork").digest()), self.ledger.old_key)
        self.assertFails(self.verify("--previous-checkpoint", self.write("fork.note", fork)),
                         "previous checkpoint", "history rewritten")

    def test_previous_checkpoint_larger_than_current(self):
        prev = self.ledger.checkpoint(40)
        self.ledger.size = 30
        self.assertFails(self.verify("--previous-checkpoint", self.write("cp40.note", prev)),
                         "rolled back")

    def test_receipt_for_other_certificate(self):
        resp = self.ledger.receipt_response(6, 7)
        resp["certificate"] = self.ledger.receipt_response(7, 8)["certificate"]
        self.assertFails(self.verify("--receipts", self.write("r.json", [resp])),
                         "receipt", "r.json[0]", "cert_sha256")

    def test_receipt_with_bad_proof(self):
        resp = self.ledger.receipt_response(6, 9)
        resp["receipt"]["inclusion_proof"].reverse()
        self.assertFails(self.verify("--receipts", self.write("r.json", [resp])), "receipt", "leaf 6")

    def test_receipt_on_revocation_leaf(self):
        resp = self.ledger.receipt_response(3, 9)
        resp["receipt"]["leaf_index"] = 4
        resp["receipt"]["inclusion_proof"] = [vl.b64(p) for p in ref_path(4, self.ledger.hashes[:9])]
        self.assertFails(self.verify("--receipts", self.write("r.json", [resp])), "revocation entry")

    def test_network_error(self):
        with FakeServer(self.ledger) as srv:
            url = srv.url
        r = run_cli("--url", url)  # the server is gone
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("fetch error", r.stderr)

    def test_http_error(self):
        self.ledger.fail_paths.add("/v1/ledger/entries")
        r = self.verify()
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("HTTP 500", r.stderr)


if __name__ == "__main__":
    unittest.main()
