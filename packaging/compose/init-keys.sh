#!/bin/sh
# The `keys` service of compose.yaml: the keys every node must share, made
# once into the `keys` volume (/var/lib/yunying-keys): the ledger's signing
# key (SM2, by yunying itself), the key of the audit's patient digests and
# the EMPI's platform key (identifier digests). A second run changes
# nothing: a ledger's key and a digest key are kept for ever.
set -eu
dir="${YUNYING_KEYS_DIR:-/var/lib/yunying-keys}"
umask 027
if [ ! -s "$dir/signing-key.pem" ]; then
  scratch=$(mktemp -d)
  yunying --data-dir "$scratch" audit key > "$dir/signing-key.verifier"
  cp "$scratch/audit/signing-key.pem" "$dir/signing-key.pem"
  cp "$scratch/audit/signing-key.pub" "$dir/signing-key.pub"
  rm -rf "$scratch"
  echo "made the ledger's signing key; its verifier key (for auditors and witnesses): $(cat "$dir/signing-key.verifier")"
fi
for key in patient-key empi-platform-key; do
  if [ ! -s "$dir/$key" ]; then
    od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > "$dir/$key"
    echo "made $key"
  fi
done
