// Package useragent adds rekey's product token, "rekey/<rekey.Version>",
// to the User-Agent header of AWS SDK calls, as the official AWS caching
// clients add theirs.
package useragent

import (
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"

	"github.com/rekeyhq/rekey"
)

// Key is the product name in the User-Agent token.
const Key = "rekey"

// Append returns apiOptions with the middleware that adds
// "rekey/<rekey.Version>" to the request's User-Agent. Call it from a
// per-call option of any SDK service client, e.g.
//
//	func(o *secretsmanager.Options) { o.APIOptions = useragent.Append(o.APIOptions) }
//
// The SDK copies a client's APIOptions before applying per-call options,
// so appending never changes the caller's client.
func Append(apiOptions []func(*middleware.Stack) error) []func(*middleware.Stack) error {
	return append(apiOptions, awsmiddleware.AddUserAgentKeyValue(Key, rekey.Version))
}
