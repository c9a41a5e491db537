#!/usr/bin/env python3
"""Derive the constants of the AES-NI SM4 S-box (src/encrypted/sm4/x86.rs).

The SM4 S-box (GB/T 32907) is S(x) = A·I(A·x + c) + c, where I is inversion
in GF(2^8) modulo x^8+x^7+x^6+x^5+x^4+x^2+1, A the circulant matrix whose
first row is 11100101, c = 0xD3. AES's SubBytes is M·J(y) + 0x63 with J the
inversion modulo x^8+x^4+x^3+x+1 (0x11B). With T the field isomorphism
(I(z) = T⁻¹·J(T·z)), S(x) = post(SubBytes(pre(x))) with
  pre(x)  = T·A·x + T·c                        (affine)
  post(z) = A·T⁻¹·M⁻¹·(z + 0x63) + c           (affine)
Each affine map on a byte is applied as two 16-entry `pshufb` lookups: one on
the low nibble, one on the high nibble (which also carries the constant).

The script checks S(x) = post(AES(pre(x))) for all 256 x and prints the
tables for the Rust source. Run: python3 tools/sm4_affine.py
"""

def sm4_sbox():
    rows = [
        "d6 90 e9 fe cc e1 3d b7 16 b6 14 c2 28 fb 2c 05",
        "2b 67 9a 76 2a be 04 c3 aa 44 13 26 49 86 06 99",
        "9c 42 50 f4 91 ef 98 7a 33 54 0b 43 ed cf ac 62",
        "e4 b3 1c a9 c9 08 e8 95 80 df 94 fa 75 8f 3f a6",
        "47 07 a7 fc f3 73 17 ba 83 59 3c 19 e6 85 4f a8",
        "68 6b 81 b2 71 64 da 8b f8 eb 0f 4b 70 56 9d 35",
        "1e 24 0e 5e 63 58 d1 a2 25 22 7c 3b 01 21 78 87",
        "d4 00 46 57 9f d3 27 52 4c 36 02 e7 a0 c4 c8 9e",
        "ea bf 8a d2 40 c7 38 b5 a3 f7 f2 ce f9 61 15 a1",
        "e0 ae 5d a4 9b 34 1a 55 ad 93 32 30 f5 8c b1 e3",
        "1d f6 e2 2e 82 66 ca 60 c0 29 23 ab 0d 53 4e 6f",
        "d5 db 37 45 de fd 8e 2f 03 ff 6a 72 6d 6c 5b 51",
        "8d 1b af 92 bb dd bc 7f 11 d9 5c 41 1f 10 5a d8",
        "0a c1 31 88 a5 cd 7b bd 2d 74 d0 12 b8 e5 b4 b0",
        "89 69 97 4a 0c 96 77 7e 65 b9 f1 09 c5 6e c6 84",
        "18 f0 7d ec 3a dc 4d 20 79 ee 5f 3e d7 cb 39 48",
    ]
    return bytes.fromhex("".join(rows))


def gf_mul(a, b, poly):
    r = 0
    while b:
        if b & 1:
            r ^= a
        b >>= 1
        a <<= 1
        if a & 0x100:
            a ^= poly
    return r


def gf_inv(a, poly):
    if a == 0:
        return 0
    return next(b for b in range(1, 256) if gf_mul(a, b, poly) == 1)


SM4_POLY = 0x1F5  # x^8+x^7+x^6+x^5+x^4+x^2+1
AES_POLY = 0x11B


def circulant_a():
    """A: row i is 11100101 rotated right by i; entry (i, j) multiplies bit j
    of x (x >> j & 1) into bit i of the result. (Read with the most
    significant bit first, the same matrix's first row is 11010011.)"""
    first = [1, 1, 1, 0, 0, 1, 0, 1]
    matrix = [[first[(j - i) % 8] for j in range(8)] for i in range(8)]

    def apply(x):
        bits = [(x >> j) & 1 for j in range(8)]
        out = [sum(matrix[i][j] & bits[j] for j in range(8)) & 1 for i in range(8)]
        return sum(b << i for i, b in enumerate(out))

    return apply


def aes_sbox(y):
    b = gf_inv(y, AES_POLY)
    rot = lambda v, n: ((v << n) | (v >> (8 - n))) & 0xFF
    return b ^ rot(b, 1) ^ rot(b, 2) ^ rot(b, 3) ^ rot(b, 4) ^ 0x63


def is_affine(f):
    c = f(0)
    return all(f(a ^ b) ^ c == (f(a) ^ c) ^ (f(b) ^ c) for a in range(256) for b in (1, 2, 4, 8, 16, 32, 64, 128))


def main():
    sbox = sm4_sbox()
    a = circulant_a()
    c = 0xD3
    # The standard's description as given: check it reproduces the table.
    assert all(a(gf_inv(a(x) ^ c, SM4_POLY)) ^ c == sbox[x] for x in range(256)), "S = A·I(A·x+c)+c"
    # Field isomorphism: T maps x^k (sm4 field) to beta^k (AES field) for a
    # root beta of the SM4 polynomial in the AES field.
    for beta in range(2, 256):
        powers = [1]
        for _ in range(8):
            powers.append(gf_mul(powers[-1], beta, AES_POLY))
        value = 0
        for k in range(9):
            if (SM4_POLY >> k) & 1:
                value ^= powers[k]
        if value != 0:
            continue
        t = lambda z: __import__("functools").reduce(lambda acc, k: acc ^ (powers[k] if (z >> k) & 1 else 0), range(8), 0)
        if len({t(z) for z in range(256)}) == 256 and all(
            t(gf_mul(p, q, SM4_POLY)) == gf_mul(t(p), t(q), AES_POLY) for p in range(256) for q in range(0, 256, 7)
        ):
            break
    else:
        raise SystemExit("no isomorphism")
    t_inv = {t(z): z for z in range(256)}
    assert all(t_inv[gf_inv(t(z), AES_POLY)] == gf_inv(z, SM4_POLY) for z in range(256))
    pre = lambda x: t(a(x) ^ c)
    aes_inv = {aes_sbox(y): y for y in range(256)}
    pre_inv = {pre(x): x for x in range(256)}
    post = lambda z: sbox[pre_inv[aes_inv[z]]]
    assert is_affine(pre) and is_affine(post)
    assert all(post(aes_sbox(pre(x))) == sbox[x] for x in range(256))

    def tables(f):
        lo = [f(n) ^ f(0) for n in range(16)]
        hi = [f(n << 4) for n in range(16)]
        assert all(lo[x & 15] ^ hi[x >> 4] == f(x) for x in range(256))
        return lo, hi

    fmt = lambda v: "[" + ", ".join(f"0x{b:02x}" for b in v) + "]"
    print(f"// beta = 0x{beta:02x}")
    for name, f in (("PRE", pre), ("POST", post)):
        lo, hi = tables(f)
        print(f"const {name}_LO: [u8; 16] = {fmt(lo)};")
        print(f"const {name}_HI: [u8; 16] = {fmt(hi)};")


if __name__ == "__main__":
    main()
