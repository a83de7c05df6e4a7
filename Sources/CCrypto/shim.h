// OpenSSL's libcrypto, for SHA-256 digests of inputs and models (provenance in sidecars).
#include <openssl/sha.h>
