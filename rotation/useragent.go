package rotation

import (
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey/internal/useragent"
)

// withUserAgent is passed to every API call the Rotator makes, so that the
// call's User-Agent carries "rekey/<rekey.Version>" and CloudTrail shows
// it came from rekey. It changes only that call's copy of the options.
func withUserAgent(o *secretsmanager.Options) { o.APIOptions = useragent.Append(o.APIOptions) }
