#!/usr/bin/env bash
# binary_symbols_test: each binary given must neither export nor import any
# OpenSSL-style symbol (SSL_*, EVP_*, X509_*, ...). BoringSSL is linked
# statically with hidden visibility; if a symbol leaks into the dynamic table,
# it could bind to (or be bound by) the OpenSSL that Debian's gRPC loads.
#
# One exception: BoringSSL's optional allocator hooks are weak references
# (unoptimized builds keep them in the dynamic table). They bind only if a
# loaded library defines them, so the test checks that none does.
set -euo pipefail
pattern='^(SSL|SSL_CTX|EVP|X509|BIO|PEM|RSA|EC|ECDSA|BN|CRYPTO|ERR|OPENSSL|OpenSSL)_'
weak_hooks='^(OPENSSL_memory_alloc|OPENSSL_memory_free|OPENSSL_memory_get_size|sdallocx)$'
status=0
for bin in "$@"; do
  if [[ ! -x "$bin" ]]; then
    echo "FAIL: $bin is not an executable"
    status=1
    continue
  fi
  symbols=$(nm -D "$bin" | awk '{ if (NF == 2) print $1, $2; else print $2, $3 }' | sed 's/@.*//')
  total=$(echo "$symbols" | grep -c . || true)
  if [[ "$total" -eq 0 ]]; then
    echo "FAIL: $bin has an empty dynamic symbol table (not a dynamic executable?)"
    status=1
    continue
  fi
  leaked=$(echo "$symbols" | awk '{print $2}' | grep -E "$pattern" | grep -vE "$weak_hooks" || true)
  if [[ -n "$leaked" ]]; then
    echo "FAIL: $bin has TLS/crypto symbols in its dynamic symbol table:"
    echo "$leaked" | head -20
    status=1
    continue
  fi
  hooks=$(echo "$symbols" | awk '$1 == "w" || $1 == "U" {print $2}' | grep -E "$weak_hooks" || true)
  if [[ -n "$hooks" ]]; then
    libs=$(ldd "$bin" | awk '$3 ~ /^\// {print $3}')
    # shellcheck disable=SC2086
    defined=$(nm -D --defined-only $libs 2>/dev/null | awk 'NF == 3 {print $3}' | sed 's/@.*//')
    for hook in $hooks; do
      if echo "$defined" | grep -qx "$hook"; then
        echo "FAIL: a library $bin loads defines $hook, which BoringSSL would bind to"
        status=1
      fi
    done
  fi
  echo "ok: $bin ($total dynamic symbols, none bound to a TLS library)"
done
exit $status
