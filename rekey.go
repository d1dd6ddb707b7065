// Package rekey holds what the whole module shares: its version. The
// library itself lives in the subpackages (secretcache, dbretry, rotation,
// policy).
package rekey

// Version is the module's release version. Every AWS SDK call the library
// makes carries it in its User-Agent header as "rekey/<Version>", so that
// CloudTrail and service logs show which calls came from rekey.
const Version = "0.1.0"
